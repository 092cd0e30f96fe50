"""The typed schema of `conf/`, and loading a composed config into it.

Hydra composes the YAML files; merging the result into these dataclasses rejects unknown keys and
wrong types, and `validate` checks ranges, all before any work starts. Errors come out as one
`ConfigError` line that names the key.
"""

import os
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from digitnet.augment import AUGMENTATIONS
from digitnet.errors import ConfigError
from digitnet.nn import ACTIVATIONS, INITS, OUTPUTS
from digitnet.optim import OPTIMIZERS, SCHEDULES
from digitnet.preprocess import SCALINGS


@dataclass
class DataConfig:
    """conf/data/: the workbook, its sheets and limits, and how its rows are split and scaled."""

    workbook: str = "data/digits.xlsx"
    x_sheet: str = "X"
    y_sheet: str = "y"
    max_file_mb: float = 200.0
    max_unpacked_mb: float = 1024.0
    n_classes: int = 10
    val_fraction: float = 0.1
    test_fraction: float = 0.2
    scaling: str = "none"


@dataclass
class ModelConfig:
    """conf/model/: the layers between the pixels and the classes."""

    hidden_sizes: list[int] = field(default_factory=lambda: [25])
    activation: str = "sigmoid"
    output: str = "sigmoid"
    init: str = "glorot_uniform"


@dataclass
class TrainConfig:
    """conf/train/: the optimiser and its schedule, batches, regularisation and early stopping.

    The meaning of every key is in conf/train/gd.yaml.
    """

    lr: float = 0.5
    epochs: int = 100
    batch_size: int | None = 64
    l2: float = 0.0
    optimizer: str = "sgd"
    momentum: float = 0.9
    beta1: float = 0.9
    beta2: float = 0.999
    schedule: str = "constant"
    step_every: int = 30
    gamma: float = 0.5
    lr_min: float = 0.0
    patience: int | None = None
    dtype: str = "float64"
    augment: str = "none"


@dataclass
class TrackingConfig:
    """conf/tracking/: where MLflow records runs, and what it records."""

    enabled: bool = True
    uri: str | None = None
    experiment: str = "digitnet"
    run_name: str | None = None
    log_model: bool = True
    register_model: str | None = None


@dataclass
class PathsConfig:
    """conf/paths/: where each stage writes; all outside data/, which DVC tracks whole."""

    ingested: str = "artifacts/ingested.npz"
    processed: str = "artifacts/processed"
    model: str = "artifacts/model"
    eval: str = "artifacts/eval"


@dataclass
class Config:
    """conf/config.yaml: the seed, and one group of settings per part of the pipeline.

    `preset` is the name of the experiment= preset the settings came from; Hydra sets it.
    """

    seed: int = 0
    preset: str = "default"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)


def conf_dir():
    """The `conf/` directory: ./conf when run from a project checkout, else the package's own.

    The working directory wins so that DVC, which runs each stage in the checkout it is
    reproducing (also a `dvc exp run` copy), reads that checkout's settings.
    """
    if env := os.environ.get("DIGITNET_CONF"):
        return Path(env).resolve()
    local = Path.cwd() / "conf"
    if (local / "config.yaml").is_file():
        return local
    return Path(__file__).resolve().parents[2] / "conf"


def to_config(cfg):
    """Check a composed DictConfig against the schema and return a typed, validated `Config`.

    `preset` is filled in from Hydra's choice for the experiment group: from `cfg.hydra` when
    composed with it, else from the running Hydra app.
    """
    if isinstance(cfg, DictConfig):
        preset = _preset(cfg)
        cfg = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
        if preset is not None:
            cfg.preset = preset
    try:
        merged = OmegaConf.merge(OmegaConf.structured(Config), cfg)
        config = OmegaConf.to_object(merged)
    except OmegaConfBaseException as exc:
        raise ConfigError(_describe(exc)) from None
    validate(config)
    return config


def _preset(cfg):
    """Hydra's choice for the experiment group, or None outside Hydra."""
    if "hydra" in cfg:
        choices = cfg.hydra.runtime.choices
    elif HydraConfig.initialized():
        choices = HydraConfig.get().runtime.choices
    else:
        return None
    return choices.get("experiment") or "default"


def _describe(exc):
    key = getattr(exc, "full_key", None)
    message = str(exc).splitlines()[0]
    if "not in" in message and key:
        return f"unknown setting {key!r} ({message})"
    if key:
        return f"setting {key!r}: {message}"
    return message


def _choice(key, value, options):
    """A check for `validate`: `value` must be one of the names in `options`."""
    return value in options, key, value, f"choose one of {', '.join(options)}"


def _fraction(key, value):
    """A check for `validate`: a decay rate in [0, 1)."""
    return 0 <= value < 1, key, value, "must lie in [0, 1)"


DTYPES = ("float64", "float32")


def validate(config):
    """Raise ConfigError naming the first setting that is out of range."""
    checks = _train_checks(config.train, config.data.val_fraction)
    checks += _model_checks(config.model) + _data_checks(config.data)
    for ok, key, value, rule in checks:
        if not ok:
            raise ConfigError(f"setting {key} = {value!r} {rule}")


def _train_checks(train, val_fraction):
    """(ok, key, value, rule) for every train.* setting; patience needs a validation split."""
    batch, patience = train.batch_size, train.patience
    return [
        (train.lr > 0, "train.lr", train.lr, "must be > 0"),
        (train.epochs >= 1, "train.epochs", train.epochs, "must be >= 1"),
        (train.l2 >= 0, "train.l2", train.l2, "must be >= 0"),
        (batch is None or batch >= 1, "train.batch_size", batch, _OR_NULL % "full batch"),
        _choice("train.optimizer", train.optimizer, OPTIMIZERS),
        _choice("train.schedule", train.schedule, SCHEDULES),
        _choice("train.dtype", train.dtype, DTYPES),
        _choice("train.augment", train.augment, AUGMENTATIONS),
        _fraction("train.momentum", train.momentum),
        _fraction("train.beta1", train.beta1),
        _fraction("train.beta2", train.beta2),
        (train.step_every >= 1, "train.step_every", train.step_every, "must be >= 1"),
        (0 < train.gamma <= 1, "train.gamma", train.gamma, "must lie in (0, 1]"),
        (
            0 <= train.lr_min <= train.lr,
            "train.lr_min",
            train.lr_min,
            f"must lie in [0, train.lr = {train.lr}]",
        ),
        (
            patience is None or patience >= 1,
            "train.patience",
            patience,
            _OR_NULL % "no early stopping",
        ),
        (
            patience is None or val_fraction > 0,
            "train.patience",
            patience,
            "needs a validation split: set data.val_fraction > 0",
        ),
    ]


_OR_NULL = "must be >= 1, or null for %s"


def _model_checks(model):
    return [
        (
            all(size >= 1 for size in model.hidden_sizes),
            "model.hidden_sizes",
            model.hidden_sizes,
            "every hidden size must be >= 1",
        ),
        _choice("model.activation", model.activation, ACTIVATIONS),
        _choice("model.output", model.output, OUTPUTS),
        _choice("model.init", model.init, INITS),
    ]


def _data_checks(data):
    fractions = (data.val_fraction, data.test_fraction)
    return [
        _choice("data.scaling", data.scaling, SCALINGS),
        (data.n_classes >= 2, "data.n_classes", data.n_classes, "must be >= 2"),
        (data.max_file_mb > 0, "data.max_file_mb", data.max_file_mb, "must be > 0"),
        (data.max_unpacked_mb > 0, "data.max_unpacked_mb", data.max_unpacked_mb, "must be > 0"),
        (
            0 <= data.val_fraction < 1 and 0 < data.test_fraction < 1,
            "data.val_fraction/test_fraction",
            fractions,
            "must lie in [0, 1) and (0, 1)",
        ),
        (
            sum(fractions) < 1,
            "data.val_fraction + data.test_fraction",
            sum(fractions),
            "must be < 1 so that some data is left to train on",
        ),
    ]


def flatten(config):
    """{'train.lr': 0.5, ...}: the settings as MLflow params, lists written as in YAML.

    Walks the dataclasses themselves, which gives the same values as a round trip through
    OmegaConf without building a second config.
    """
    flat = {}

    def walk(node, prefix):
        for item in fields(node):
            value = getattr(node, item.name)
            if is_dataclass(value):
                walk(value, f"{prefix}{item.name}.")
            else:
                flat[f"{prefix}{item.name}"] = value

    walk(config, "")
    return flat
