"""Specification of composing conf/ without Hydra: the same settings as Hydra, or no answer."""

import shutil

import pytest

from digitnet import cli
from digitnet.compose import plain
from digitnet.config import conf_dir, to_config
from digitnet.errors import ConfigError
from support import ROOT, sh

PRESETS = sorted(path.stem for path in (ROOT / "conf" / "experiment").glob("*.yaml"))
MODELS = sorted(path.stem for path in (ROOT / "conf" / "model").glob("*.yaml"))


def has_own_defaults(preset):
    """Whether a preset picks other group options itself (`defaults:`), which Hydra resolves."""
    text = (ROOT / "conf" / "experiment" / f"{preset}.yaml").read_text()
    return any(line.startswith("defaults:") for line in text.splitlines())


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("extra", [[], ["tracking=sqlite"], *[[f"model={m}"] for m in MODELS]])
def test_a_stages_command_line_gets_the_settings_hydra_composes(preset, extra):
    overrides = [f"experiment={preset}", *extra]
    settings = plain(conf_dir(), overrides)
    if has_own_defaults(preset):
        assert settings is None
        return
    assert settings is not None
    # repr, not ==: 1 == 1.0 and "sgd" == Optimizer.sgd, but the types must be the same too
    assert repr(to_config(settings)) == repr(to_config(cli._compose(overrides)))
    assert to_config(settings).preset == preset


def test_some_presets_compose_without_hydra_and_some_do_not():
    # keeps the test above honest: both of its branches are taken
    assert {has_own_defaults(preset) for preset in PRESETS} == {True, False}


def test_no_overrides_give_the_default_preset_as_hydra_does():
    assert repr(to_config(plain(conf_dir()))) == repr(to_config(cli._compose([])))
    assert to_config(plain(conf_dir())).preset == "default"


@pytest.mark.parametrize(
    "word",
    [
        "train.lr=0.3",  # a setting: Hydra's grammar reads its value
        "+experiment=best",
        "~tracking",
        "experiment=best,tiny",  # a sweep
        "experiment=nope",  # no such preset: Hydra lists the ones there are
        "tracking=server",  # a file with its own defaults list
        "sweep=grid",  # sets only Hydra's sweeper
        "hydra/launcher=joblib",
        "seed=1",
    ],
)
def test_anything_beyond_choosing_presets_is_left_to_hydra(word):
    assert plain(conf_dir(), [word]) is None


def test_a_conf_file_with_a_package_or_an_interpolation_is_left_to_hydra(tmp_path):
    conf = tmp_path / "conf"
    shutil.copytree(ROOT / "conf", conf)
    assert plain(conf, ["experiment=best"]) is not None
    model = conf / "model" / "mlp.yaml"
    model.write_text(model.read_text() + "activation_name: ${model.activation}\n")
    assert plain(conf) is None
    shutil.copy(ROOT / "conf" / "model" / "mlp.yaml", model)
    best = conf / "experiment" / "best.yaml"
    best.write_text(best.read_text().replace("# @package _global_", "# @package model"))
    assert plain(conf, ["experiment=best"]) is None


@pytest.mark.parametrize(("words", "scanned"), [(["experiment=best"], False), (["seed=1"], True)])
def test_only_a_command_line_left_to_hydra_loads_its_plugins(words, scanned):
    # Hydra scans its plugins, core ones first, when it composes, not when it is imported.
    code = (
        f"import sys; from digitnet import cli; cli.load_config({words!r}); "
        "print('hydra._internal.core_plugins' in sys.modules)"
    )
    assert sh(["python", "-c", code], ROOT).stdout == f"{scanned}\n"


def test_a_value_yaml_types_otherwise_is_converted_as_hydra_converts_it(tmp_path):
    # YAML reads `lr: "0.3"` as text and `epochs: 2.0` as a float; OmegaConf converts both
    conf = tmp_path / "conf"
    shutil.copytree(ROOT / "conf", conf)
    train = conf / "train" / "gd.yaml"
    train.write_text(train.read_text() + 'lr: "0.3"\nl2: 1\n')
    config = to_config(plain(conf))
    assert (config.train.lr, config.train.l2) == (0.3, 1.0)
    assert type(config.train.l2) is float


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("epochs: many", r"^setting train.epochs = 'many' must be a whole number$"),
        ("optimizer: [adam]", r"^setting 'train.optimizer': "),
        ("optimizer: nope", r"^setting train.optimizer = 'nope': choose one of sgd, "),
        ("lr: {a: 1}", r"^setting '?train.lr"),
        ("speed: 3", r"^unknown setting 'train.speed'"),
    ],
)
def test_a_value_of_the_wrong_kind_in_a_conf_file_is_one_line_naming_it(tmp_path, line, message):
    conf = tmp_path / "conf"
    shutil.copytree(ROOT / "conf", conf)
    train = conf / "train" / "gd.yaml"
    train.write_text(f"{train.read_text()}{line}\n")
    with pytest.raises(ConfigError, match=message) as error:
        to_config(plain(conf))
    assert "\n" not in str(error.value)


def test_a_stage_composed_without_hydra_does_not_load_omegaconf_either():
    code = (
        "import sys; from digitnet import cli; cli.load_config(['experiment=best']); "
        "print(sorted({name.split('.')[0] for name in sys.modules} & {'hydra', 'omegaconf'}))"
    )
    assert sh(["python", "-c", code], ROOT).stdout == "[]\n"
