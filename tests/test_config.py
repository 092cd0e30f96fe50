"""Settings: conf/ composes into the typed schema; bad settings fail before any work."""

import json

import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException

from digitnet import augment, nn, optim, preprocess
from digitnet.cli import load_config
from digitnet.config import (
    Activation,
    Augmentation,
    Config,
    DType,
    Init,
    Optimizer,
    Output,
    Scaling,
    Schedule,
    conf_dir,
    flatten,
)
from digitnet.errors import ConfigError

TRAIN_KEYS = (
    "lr, epochs, batch_size, l2, optimizer, momentum, beta1, beta2, schedule, step_every, gamma, "
    "lr_min, patience, dtype, augment"
)


def test_conf_files_agree_with_the_schema_defaults():
    assert load_config() == Config()


def test_by_default_the_tutorials_network_learns_from_data_digits_xlsx():
    config = load_config()
    assert config.model.hidden_sizes == [25]
    assert config.model.activation == "sigmoid"
    assert config.data.workbook == "data/digits.xlsx"


def test_overrides_reach_the_typed_config():
    config = load_config(["train.lr=0.3", "model.hidden_sizes=[50,20]", "train.batch_size=null"])
    assert config.train.lr == 0.3
    assert config.model.hidden_sizes == [50, 20]
    assert config.train.batch_size is None


def test_tutorial_preset_sets_the_tutorials_training():
    config = load_config(["experiment=tutorial"])
    assert (config.train.lr, config.train.epochs, config.train.batch_size) == (0.003, 20, None)
    assert config.model.hidden_sizes == [25]


def test_tiny_preset_shrinks_the_run_and_leaves_the_network_and_learning_rate_alone():
    defaults, tiny = flatten(Config()), flatten(load_config(["experiment=tiny"]))
    changed = {key: value for key, value in tiny.items() if defaults[key] != value}
    assert changed == {
        "preset": "tiny",
        "data.val_fraction": 0.25,
        "data.test_fraction": 0.25,
        "train.epochs": 30,
        "train.batch_size": 16,
    }


def test_a_preset_is_only_a_starting_point_for_overrides():
    config = load_config(["experiment=tiny", "train.epochs=3"])
    assert (config.train.epochs, config.train.batch_size) == (3, 16)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["train.foo=1"], f"unknown setting 'train.foo'; train has {TRAIN_KEYS}"),
        (["+train.foo=1"], f"unknown setting 'train.foo'; train has {TRAIN_KEYS}"),
        (
            ["+foo=1"],
            "unknown setting 'foo'; the top level has seed, preset, data, model, train, "
            "tracking, paths",
        ),
        (["train.epochs=abc"], "setting train.epochs = 'abc' must be a whole number"),
        (["train.lr=fast"], "setting train.lr = 'fast' must be a number"),
        (["tracking.enabled=maybe"], "setting tracking.enabled = 'maybe' must be true or false"),
        (
            ["model.hidden_sizes=50"],
            "setting model.hidden_sizes must be a list: write model.hidden_sizes=[50]",
        ),
        (["train.lrr=0.1"], "unknown setting 'train.lrr'; did you mean train.lr?"),
        (
            ["model.hiden_sizes=[50]"],
            "unknown setting 'model.hiden_sizes'; did you mean model.hidden_sizes?",
        ),
        (["train.lr=0"], "setting train.lr = 0.0 must be > 0"),
        (["data.max_unpacked_mb=0"], "setting data.max_unpacked_mb = 0.0 must be > 0"),
        (["train.lr=-1"], "setting train.lr = -1.0 must be > 0"),
        (["train.epochs=0"], "setting train.epochs = 0 must be >= 1"),
        (["train.l2=-0.1"], "setting train.l2 = -0.1 must be >= 0"),
        (
            ["train.batch_size=0"],
            "setting train.batch_size = 0 must be >= 1, or null for full batch",
        ),
        (
            ["model.hidden_sizes=[25,0]"],
            "setting model.hidden_sizes = [25, 0] every hidden size must be >= 1",
        ),
        (
            ["model.activation=softplus"],
            "setting model.activation = 'softplus': "
            "choose one of sigmoid, tanh, relu, leaky_relu, swish",
        ),
        (["model.output=tanh"], "setting model.output = 'tanh': choose one of sigmoid, softmax"),
        (
            ["model.activation=Relu"],
            "setting model.activation = 'Relu': "
            "choose one of sigmoid, tanh, relu, leaky_relu, swish",
        ),
        (
            ["model.init=zeros"],
            "setting model.init = 'zeros': choose one of glorot_uniform, glorot_normal, he",
        ),
        (
            ["data.scaling=zscore"],
            "setting data.scaling = 'zscore': choose one of none, standard, minmax",
        ),
        (
            ["data.val_fraction=0.5", "data.test_fraction=0.5"],
            "setting data.val_fraction + data.test_fraction = 1.0 must be < 1 so that some data "
            "is left to train on",
        ),
        (
            ["experiment=nope"],
            "no preset experiment=nope; choose one of best, cnn, default, ng_ex4, tiny, tutorial",
        ),
        (["sweep=nope"], "no preset sweep=nope; choose one of grid"),
        (
            ["+sweep=grid"],
            "+sweep=grid: write sweep=grid, without the + (sweep has a default)",
        ),
        (
            ["train.optimizer=rmsprop"],
            "setting train.optimizer = 'rmsprop': choose one of sgd, momentum, nesterov, adam",
        ),
        (
            ["train.schedule=linear"],
            "setting train.schedule = 'linear': choose one of constant, step, cosine",
        ),
        (
            ["train.dtype=float16"],
            "setting train.dtype = 'float16': choose one of float64, float32",
        ),
        (["train.augment=flips"], "setting train.augment = 'flips': choose one of none, shifts"),
        (["train.momentum=1"], "setting train.momentum = 1.0 must lie in [0, 1)"),
        (["train.beta2=-0.1"], "setting train.beta2 = -0.1 must lie in [0, 1)"),
        (["train.gamma=0"], "setting train.gamma = 0.0 must lie in (0, 1]"),
        (["train.step_every=0"], "setting train.step_every = 0 must be >= 1"),
        (["train.lr_min=0.6"], "setting train.lr_min = 0.6 must lie in [0, train.lr = 0.5]"),
        (
            ["train.patience=0"],
            "setting train.patience = 0 must be >= 1, or null for no early stopping",
        ),
        (
            ["train.patience=5", "data.val_fraction=0"],
            "setting train.patience = 5 needs a validation split: set data.val_fraction > 0",
        ),
    ],
)
def test_bad_setting_is_one_clear_error(overrides, message):
    with pytest.raises(ConfigError) as raised:
        load_config(overrides)
    assert str(raised.value) == message


def test_the_preset_is_named_in_the_config_and_is_default_when_none_is_chosen():
    assert load_config().preset == "default"
    assert load_config(["experiment=tiny"]).preset == "tiny"
    assert load_config(["experiment=default"]) == Config()


def test_flatten_names_params_by_their_dotted_keys():
    flat = flatten(Config())
    assert flat["train.lr"] == 0.5
    assert flat["model.hidden_sizes"] == [25]
    assert flat["seed"] == 0
    assert flat["preset"] == "default"
    assert "tracking.experiment" in flat


def test_the_schema_is_hydras_own_so_hydra_refuses_a_bad_value_without_digitnet_checking():
    with initialize_config_dir(config_dir=str(conf_dir()), version_base=None):
        assert compose("config")["train"]["lr"] == 0.5
        with pytest.raises(ConfigCompositionException) as refused:
            compose("config", ["model.activation=Relu"])
    assert "expected one of [sigmoid, tanh, relu, leaky_relu, swish]" in str(
        refused.value.__cause__
    )


@pytest.mark.parametrize(
    ("choices", "table"),
    [
        (Activation, nn.ACTIVATIONS),
        (Output, nn.OUTPUTS),
        (Init, nn.INITS),
        (Optimizer, optim.OPTIMIZERS),
        (Schedule, optim.SCHEDULES),
        (Augmentation, augment.AUGMENTATIONS),
        (Scaling, preprocess.SCALINGS),
        (DType, ("float64", "float32")),
    ],
)
def test_the_choices_of_a_named_setting_are_the_names_of_the_table_it_picks_from(choices, table):
    assert [choice.value for choice in choices] == list(table)
    assert [choice.name for choice in choices] == list(table)


def test_a_chosen_name_behaves_as_the_plain_string_everywhere_it_is_used():
    activation = load_config(["model.activation=relu"]).model.activation
    assert activation is Activation.relu
    assert activation == "relu" and str(activation) == "relu" and f"{activation}" == "relu"
    assert nn.ACTIVATIONS[activation] is nn.ACTIVATIONS["relu"]
    assert json.dumps({"activation": activation}) == '{"activation": "relu"}'


def test_flatten_writes_chosen_names_as_plain_strings():
    flat = flatten(load_config(["experiment=best"]))
    assert (flat["model.activation"], flat["train.optimizer"]) == ("relu", "adam")
    assert type(flat["model.activation"]) is str and type(flat["data.scaling"]) is str


def test_sweep_grid_is_chosen_like_any_group_without_a_plus():
    with initialize_config_dir(config_dir=str(conf_dir()), version_base=None):
        cfg = compose("config", ["sweep=grid"], return_hydra_config=True)
    assert cfg.hydra.runtime.choices.sweep == "grid"
    assert cfg.hydra.sweeper.params["train.lr"] == "0.1,0.5,1.0"
    assert load_config(["sweep=grid"]) == Config()
