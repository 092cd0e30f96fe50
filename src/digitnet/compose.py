"""conf/ composed without Hydra, for the plain command lines that DVC gives the stages.

Importing Hydra, scanning its plugins and composing its own settings cost a stage about 0.25 s
before any work, on every stage of every `dvc repro`. dvc.yaml runs each stage with at most
`experiment=NAME`, and conf/ keeps to a plain shape: config.yaml's defaults list picks one file
per group, each group file is a mapping of settings, and the experiment presets are global
deltas. For exactly that, `plain` reads the files with PyYAML and merges them in Hydra's order
(the groups, config.yaml's own keys, the preset) as OmegaConf does: mappings key by key, any
other value replaced whole. Not loading OmegaConf at all saves a stage another 0.08 s
(`config.to_config` types plain settings itself). Anything else on the command line (a
`key=value` setting, `+`, `~`, a sweep, an option that has no file) or in conf/ (a file with its
own defaults list or package, an interpolation) gives None, and Hydra composes as before, with
its own checks and messages. tests/test_compose.py holds the two to the same result.
"""

import re

import yaml

_CHOICE = re.compile(r"([a-z_]+)=([A-Za-z0-9_.-]+)")  # group=option, as `experiment=best`
_NOT_FOR_STAGES = ("sweep", "hparams_search")  # groups that only set hydra.sweeper
_GLOBAL = "# @package _global_"


def plain(conf, overrides=()):
    """The settings of `conf` (a Path) with `overrides` as a plain dict, `preset` set to the
    experiment chosen; None when Hydra is needed to compose them."""
    try:
        return _plain(conf, list(overrides))
    except (OSError, yaml.YAMLError):  # Hydra says what is wrong with the file
        return None


def _plain(conf, overrides):
    main = _parsed((conf / "config.yaml").read_text())
    order = _defaults(main) if isinstance(main, dict) else None
    if order is None:
        return None
    choices = dict(item for item in order if item[0] != "_self_")
    for word in overrides:
        found = _CHOICE.fullmatch(word)
        if not found or found[1] not in choices:
            return None
        choices[found[1]] = found[2]
    parts = []
    for group, _ in order:
        if group == "_self_":
            own = {k: v for k, v in main.items() if k not in ("defaults", "hydra", "preset")}
            parts.append(own)
            parts.append({"preset": choices.get("experiment") or "default"})
        elif choices[group] is not None:
            if group in _NOT_FOR_STAGES:
                return None
            part = _group_file(conf / group / f"{choices[group]}.yaml", group)
            if part is None:
                return None
            parts.append(part)
    merged = {}
    for part in parts:
        _merge(merged, part)
    return None if "${" in repr(merged) else merged


def _parsed(text):
    """A YAML file's content; {} for a file of comments only, as OmegaConf reads it."""
    content = yaml.safe_load(text)
    return {} if content is None else content


def _merge(into, part):
    """Merge the mapping `part` into `into` as OmegaConf does: mappings key by key, any other
    value (a list too) replaced whole."""
    for key, value in part.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = _merge({}, value) if isinstance(value, dict) else value
    return into


def _defaults(main):
    """[(group, option or None), ("_self_", None), ...] from config.yaml's defaults list; None
    for any entry beyond the schema, `group: option`, `_self_` and `override hydra/...`."""
    order = []
    for entry in main.get("defaults") or []:
        if entry == "config_schema":
            continue
        if entry == "_self_":
            order.append(("_self_", None))
        elif isinstance(entry, dict) and len(entry) == 1:
            ((group, option),) = entry.items()
            if group.startswith("override hydra/"):
                continue
            if "/" in group or " " in group:
                return None
            order.append((group, option))
        else:
            return None
    return order


def _group_file(path, group):
    """One group's file as a config at its place: under `group`, or at the top for a global
    experiment preset; None for a file that needs Hydra (its own defaults, another package)."""
    text = path.read_text()
    packaged = _GLOBAL in text.splitlines()[:1] if group == "experiment" else False
    if "@package" in text and not packaged:
        return None
    part = _parsed(text)
    if not isinstance(part, dict) or "defaults" in part:
        return None
    return part if packaged else {group: part}
