"""What every entry point shares: composing the config and turning user errors into one line."""

import argparse
import importlib.util
import itertools
import math
import os
import signal
import sys
from contextlib import contextmanager

from digitnet.compose import plain
from digitnet.config import conf_dir, describe, store_schema, to_config, unknown_setting
from digitnet.errors import ConfigError, DigitnetError, Interrupted, refused


def load_config(overrides=()):
    """Compose conf/config.yaml with command-line style overrides into a validated Config.

    A stage's plain command line is composed without Hydra (`compose.plain`), which saves
    it a quarter of a second; any other goes through Hydra.
    """
    settings = plain(conf_dir(), overrides)
    return to_config(_compose(overrides) if settings is None else settings)


def _compose(overrides):
    """The composed config, Hydra's node included; Hydra's errors as one ConfigError line."""
    # Hydra is imported here, not on top, so that a stage composed without it does not load it.
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    store_schema()
    try:
        with initialize_config_dir(config_dir=str(conf_dir()), version_base=None):
            return compose("config", overrides=list(overrides), return_hydra_config=True)
    except (HydraException, OmegaConfBaseException) as exc:
        raise ConfigError(_first_line(exc)) from None
    except ValueError:  # Hydra's word for a group set to null, which needs an option
        nulls = [word for word in overrides if word.endswith("=null")]
        if not nulls:
            raise
        group = nulls[0].removesuffix("=null").lstrip("+~")
        options = sorted(path.stem for path in (conf_dir() / group).glob("*.yaml"))
        raise ConfigError(f"no preset {group}=null; choose one of {', '.join(options)}") from None


def _first_line(exc):
    """Hydra's message in one line: the problem and, where Hydra lists them, the valid choices."""
    from omegaconf.errors import OmegaConfBaseException

    if isinstance(exc.__cause__, OmegaConfBaseException):  # a value the schema refuses
        return describe(exc.__cause__)
    lines = str(exc).splitlines()
    first = lines[0].strip()
    if first.startswith("Could not override '"):
        return unknown_setting(first.split("'")[1])
    if "Available options in" in str(exc):
        missing = first.split("Could not find '")[-1].rstrip("'")
        group, _, name = missing.rpartition("/")
        options = [line.strip() for line in lines if line.startswith("\t") and "=" not in line]
        return f"no preset {group}={name}; choose one of {', '.join(options)}"
    if first.startswith("Multiple values for ") and "'override " in first:
        group, name = first.split("'override ")[1].rstrip("'").split(": ")
        return f"+{group}={name}: write {group}={name}, without the + ({group} has a default)"
    return first


_TOGETHER = 100  # up to this many jobs, every combination is checked; beyond, every value


def check_overrides(argv):
    """Compose every job of the command line up front, as `load_config` does; refuse a bad one.

    Hydra enforces the same schema, but in several lines, and in a sweep only as each job
    starts; this runs first, so that a bad value fails like the DVC stages do, before any work.
    The jobs are the combinations of the command line's comma lists and, with sweep=grid, of
    the grid in hydra.sweeper.params (an Optuna interval is left to Optuna).
    """
    if {"-sc", "--shell-completion"} & set(argv):
        return  # the words are Hydra's commands (install=bash), not settings
    words = _override_words(argv)
    if missing := missing_plugin(words):
        raise ConfigError(missing)
    overrides = _parse(words)
    if any(override.key_or_group == "preset" for override in overrides):
        raise ConfigError(
            "preset is the name of the experiment= preset; choose it with experiment="
        )
    first_job = [_values(override)[0] for override in overrides]
    params = _compose(first_job).hydra.sweeper.get("params") or {}
    given = {override.key_or_group for override in overrides}
    grid = _parse([f"{key}={value}" for key, value in params.items()])
    grid = [override for override in grid if override.key_or_group not in given]
    for job in _jobs([_values(override) for override in [*overrides, *grid]]):
        load_config(job)


# Choices whose Hydra plugin comes with an optional extra of pyproject.toml: (plugin, extra).
PLUGINS = {
    "hparams_search=optuna": ("hydra_plugins.hydra_optuna_sweeper", "optuna"),
    "hydra/sweeper=optuna": ("hydra_plugins.hydra_optuna_sweeper", "optuna"),
    "hydra/launcher=ray": ("hydra_plugins.hydra_ray_launcher", "ray"),
    "hydra/launcher=submitit_local": ("hydra_plugins.hydra_submitit_launcher", "slurm"),
    "hydra/launcher=submitit_slurm": ("hydra_plugins.hydra_submitit_launcher", "slurm"),
}


MAKE_TARGETS = {"optuna": "install-dev", "ray": "install-cluster", "slurm": "install-cluster"}


def missing_plugin(words, find_spec=importlib.util.find_spec):
    """The error for the first word whose plugin is not installed, with the command that
    installs it; None when every plugin asked for is there."""
    for word in words:
        plugin, extra = PLUGINS.get(word.lstrip("+"), (None, None))
        if plugin and find_spec(plugin) is None:
            return (
                f"{word} needs the '{extra}' extra, which is not installed: "
                f"pip install 'digitnet[{extra}]' (in a checkout: make {MAKE_TARGETS[extra]})"
            )
    return None


def _parse(words):
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    try:
        return OverridesParser.create().parse_overrides(words)
    except HydraException as exc:
        raise ConfigError(_first_line(exc)) from None


def _values(override):
    """One `key=value` word per value that `override` sweeps over; an interval keeps its first."""
    if not override.is_sweep_override():
        return [override.input_line]
    key = override.get_key_element()
    if override.is_interval_sweep():
        return [f"{key}={override.value().start}"]
    return [f"{key}={value}" for value in override.sweep_string_iterator()]


def _jobs(values):
    """Every combination of `values` if there are few, else each value with the others' first."""
    if math.prod(len(choices) for choices in values) <= _TOGETHER:
        return [list(job) for job in itertools.product(*values)]
    firsts = [choices[0] for choices in values]
    return [
        [*firsts[:i], value, *firsts[i + 1 :]]
        for i, choices in enumerate(values)
        for value in choices
    ]


# Hydra's own command-line options that take a value, and --info's optional one.
_OPTION_VALUES = {"-c", "--cfg", "-p", "--package", "-cp", "--config-path", "-cn", "--config-name"}
_OPTION_VALUES |= {"-cd", "--config-dir", "--experimental-rerun"}
_INFO = {"-i", "--info"}
_INFO_TOPICS = {"all", "config", "defaults", "defaults-tree", "plugins", "searchpath"}


def _override_words(argv):
    """The words of `argv` that are overrides, as Hydra's documented command line reads them."""
    words, previous = [], None
    for word in argv:
        option_value = previous in _OPTION_VALUES or (previous in _INFO and word in _INFO_TOPICS)
        if not option_value and not word.startswith("-"):
            words.append(word)
        previous = word
    return words


def fail(message):
    """Print `error: message` on stderr and exit with status 2."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


@contextmanager
def reported():
    """Turn user errors and interruptions into one line on stderr and an exit status.

    SIGTERM is raised as `Interrupted` (a KeyboardInterrupt), so that it unwinds exactly like
    Ctrl-C: MLflow runs end KILLED and atomic writes leave no half-written file.
    """

    def on_sigterm(signum, frame):
        raise Interrupted()

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    except DigitnetError as exc:
        fail(str(_refused(exc) or exc))
    except KeyboardInterrupt as exc:
        name = getattr(exc, "signal_name", "Ctrl-C")
        print(
            f"error: interrupted by {name}; no output was half-written, and the MLflow run, "
            "if one was open, is marked KILLED",
            file=sys.stderr,
        )
        sys.exit(getattr(exc, "exit_status", 130))
    except Exception as exc:  # a tracking server's refusal is the user's to fix; else a bug
        if (error := _refused(exc)) is None:
            raise
        fail(str(error))
    finally:
        signal.signal(signal.SIGTERM, previous)


def _refused(exc):
    """`errors.refused` for the store this process opened last, and the user MLflow sent.

    The store is looked up, not imported: a process that never loaded tracking opened none, and
    the DVC stages that use this module (ingest, preprocess) must not depend on tracking's code.
    """
    tracking = sys.modules.get("digitnet.tracking")
    server = getattr(tracking, "last_uri", None) or os.environ.get(
        "MLFLOW_TRACKING_URI", "at MLFLOW_TRACKING_URI"
    )
    return refused(exc, server, os.environ.get("MLFLOW_TRACKING_USERNAME"))


def run(work, argv=None, *, prog, about, examples):
    """Run `work(config)` for a DVC stage; user errors exit 2 with one line, no traceback.

    Arguments are Hydra overrides (`train.lr=0.3`), so a stage can be tried by hand with other
    settings without editing conf/; -h or --help prints `about` and `examples` (see `settings`).
    """
    about = f"{about.rstrip()}\n\n{_BY_HAND}"
    overrides = settings(sys.argv[1:] if argv is None else argv, prog, about, examples)
    with reported():
        work(load_config(overrides))


_BY_HAND = """\
`dvc repro` runs it as dvc.yaml says. Run by hand, it writes the same files, and
`dvc status` then shows the stage as changed."""


class Parser(argparse.ArgumentParser):
    """argparse, with a wrong option as one `error: ...` line and exit 2, like any user error."""

    def error(self, message):
        fail(f"{message}; see {self.prog} --help")


def settings(argv, prog, about, examples):
    """The overrides of a command whose arguments are settings only (`key=value`).

    -h or --help prints the usage, `about` (a module docstring will do) and `examples`, and
    exits 0; any other option is an error. Without this, Hydra's parser would read `--help`
    as a setting and fail on its first character.
    """
    parser = Parser(
        prog=prog,
        description=about,
        epilog="examples:\n" + "".join(f"  {example}\n" for example in examples),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    parser.add_argument(
        "overrides",
        nargs="*",
        metavar="KEY=VALUE",
        help="settings over conf/: a preset (experiment=best), a group's option "
        "(tracking=server), a key (train.lr=0.3); digitnet train --cfg job "
        "lists every key and its value",
    )
    return parser.parse_args(argv).overrides
