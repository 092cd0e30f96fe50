"""The typed schema of `conf/`, and loading a composed config into it.

`Config` is stored in Hydra's ConfigStore as `config_schema`, the first entry of
conf/config.yaml's defaults list, so Hydra itself refuses unknown keys, wrong types and names
that are not among a setting's choices, for every override, `--cfg`, `--help` and `-m`.
`store_schema` does it, called by whatever composes with Hydra (not on import: a DVC stage
composes without Hydra and never loads it).
`validate` then checks ranges. Errors come out as one `ConfigError` line that names the key.

A setting chosen by name is a StrEnum built from the table it picks from (nn.ACTIVATIONS, ...),
so Hydra lists the valid names; its members are str, so "relu" == Activation.relu and
str(Activation.relu) == "relu".
"""

import difflib
import os
import sys
import types
import typing
from dataclasses import dataclass, field, fields, is_dataclass
from enum import StrEnum
from pathlib import Path

from digitnet.augment import AUGMENTATIONS
from digitnet.conv import PADDINGS
from digitnet.errors import ConfigError
from digitnet.nn import ACTIVATIONS, INITS, OUTPUTS
from digitnet.optim import OPTIMIZERS, SCHEDULES
from digitnet.preprocess import SCALINGS


def _choices(name, names):
    """A StrEnum whose members are `names`, each its own value: the valid names of a setting."""
    return StrEnum(name, [(option, option) for option in names], module=__name__)


Activation = _choices("Activation", ACTIVATIONS)
Output = _choices("Output", OUTPUTS)
Init = _choices("Init", INITS)
Optimizer = _choices("Optimizer", OPTIMIZERS)
Schedule = _choices("Schedule", SCHEDULES)
DType = _choices("DType", ("float64", "float32"))
Augmentation = _choices("Augmentation", AUGMENTATIONS)
Padding = _choices("Padding", PADDINGS)
Scaling = _choices("Scaling", SCALINGS)


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
    scaling: Scaling = Scaling.none


@dataclass
class ModelConfig:
    """conf/model/: the layers between the pixels and the classes.

    With `filters` empty, a dense network (conf/model/mlp.yaml); otherwise convolutions come
    first (conf/model/cnn.yaml), and `hidden_sizes` are the dense layers after them.
    """

    name: str = "mlp"  # the conf/model/ file, which names the run when not the preset's
    hidden_sizes: list[int] = field(default_factory=lambda: [25])
    activation: Activation = Activation.sigmoid
    output: Output = Output.sigmoid
    init: Init = Init.glorot_uniform
    filters: list[int] = field(default_factory=list)
    kernel_sizes: list[int] = field(default_factory=list)
    padding: Padding = Padding.valid
    pool: int = 2
    image_side: int | None = None


@dataclass
class TrainConfig:
    """conf/train/: the optimiser and its schedule, batches, regularisation and early stopping.

    The meaning of every key is in conf/train/gd.yaml.
    """

    lr: float = 0.5
    epochs: int = 100
    batch_size: int | None = 64
    l2: float = 0.0
    optimizer: Optimizer = Optimizer.sgd
    momentum: float = 0.9
    beta1: float = 0.9
    beta2: float = 0.999
    schedule: Schedule = Schedule.constant
    step_every: int = 30
    gamma: float = 0.5
    lr_min: float = 0.0
    patience: int | None = None
    dtype: DType = DType.float64
    augment: Augmentation = Augmentation.none


@dataclass
class TrackingConfig:
    """conf/tracking/: where MLflow records runs, and what it records."""

    enabled: bool = True
    uri: str | None = None
    experiment: str = "digitnet"
    run_name: str | None = None
    log_model: bool = True
    register_model: str | None = None
    busy_timeout: float = 30.0


@dataclass
class PathsConfig:
    """conf/paths/: where each stage writes; all outside data/, which DVC tracks whole."""

    ingested: str = "artifacts/ingested.npz"
    processed: str = "artifacts/processed"
    model: str = "artifacts/model"
    eval: str = "artifacts/eval"
    arrays: str = "artifacts/by-content"


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


SCHEMA = "config_schema"


def store_schema():
    """Store `Config` in Hydra's ConfigStore as SCHEMA; needed before Hydra composes conf/."""
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(name=SCHEMA, node=Config)


def conf_dir():
    """The `conf/` directory: ./conf when there is one (a project checkout), else the package's.

    The working directory wins so that DVC, which runs each stage in the checkout it is
    reproducing (also a `dvc exp run` copy), reads that checkout's settings.
    """
    if env := os.environ.get("DIGITNET_CONF"):
        return Path(env).resolve()
    local = Path.cwd() / "conf"
    if (local / "config.yaml").is_file():
        return local
    packaged = Path(__file__).resolve().parent / "conf"  # an installed wheel's digitnet/conf
    if (packaged / "config.yaml").is_file():
        return packaged
    return Path(__file__).resolve().parents[2] / "conf"  # an editable install's checkout


def to_config(cfg):
    """Check composed settings against the schema and return a typed, validated `Config`.

    `cfg` is Hydra's DictConfig or the plain dict `compose.plain` gives. `preset` is filled in
    from Hydra's choice for the experiment group: from `cfg.hydra` when composed with it, else
    from the running Hydra app.
    """
    if not isinstance(cfg, dict):  # Hydra's DictConfig
        from omegaconf import OmegaConf

        preset = _preset(cfg)
        # Plain containers, merged into the schema afresh: Hydra adds a `+key` to a node typed
        # by the schema without complaint, the merge refuses it.
        cfg = OmegaConf.to_container(OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]))
        if preset is not None:
            cfg["preset"] = preset
    config = _typed(Config, cfg)
    if config is None:
        config = _converted(cfg)
    validate(config)
    return config


def _converted(cfg):
    """`cfg` merged into the schema by OmegaConf, which converts what it can ("0.5" to 0.5)
    and refuses the rest with a message that `describe` turns into one line."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(Config), cfg))
    except OmegaConfBaseException as exc:
        raise ConfigError(describe(exc)) from None


_REFUSED = object()


def _typed(schema, values):
    """The dict `values` as the dataclass `schema`, when each value already has its field's
    type (an int for a float too, as YAML writes 1 for 1.0); None for anything else, which
    `_converted` converts or refuses. Saves a DVC stage importing OmegaConf (0.04 s) and
    merging with it (0.03 s)."""
    if not isinstance(values, dict):
        return None
    kinds = {item.name: item.type for item in fields(schema)}
    if not set(values) <= set(kinds):
        return None
    typed = {name: _value(kinds[name], value) for name, value in values.items()}
    if _REFUSED in typed.values():
        return None
    return schema(**typed)


def _value(kind, value):
    """`value` as a field of type `kind` holds it, or _REFUSED."""
    if is_dataclass(kind):
        typed = _typed(kind, value)
        return _REFUSED if typed is None else typed
    if isinstance(kind, types.UnionType):  # `int | None`
        if value is None:
            return None
        (kind,) = [option for option in typing.get_args(kind) if option is not type(None)]
    if typing.get_origin(kind) is list:
        (item,) = typing.get_args(kind)
        if not isinstance(value, list):
            return _REFUSED
        items = [_value(item, element) for element in value]
        return _REFUSED if _REFUSED in items else items
    if isinstance(kind, type) and issubclass(kind, StrEnum):
        return kind(value) if isinstance(value, str) and value in set(kind) else _REFUSED
    if kind is float and type(value) in (int, float):
        return float(value)
    return value if type(value) is kind else _REFUSED


def _preset(cfg):
    """Hydra's choice for the experiment group, or None outside Hydra."""
    if "hydra" in cfg:
        choices = cfg.hydra.runtime.choices
    elif _hydra_app_running():
        from hydra.core.hydra_config import HydraConfig

        choices = HydraConfig.get().runtime.choices
    else:
        return None
    return choices.get("experiment") or "default"


def _hydra_app_running():
    """Whether a Hydra app runs in this process; without importing Hydra when none can."""
    if "hydra" not in sys.modules:
        return False
    from hydra.core.hydra_config import HydraConfig

    return HydraConfig.initialized()


def describe(exc):
    """An OmegaConf error as one line that names the setting."""
    key = getattr(exc, "full_key", None)
    message = str(exc).splitlines()[0]
    if message.startswith("Invalid value '") and "expected one of [" in message:
        value, options = message.split("'")[1], message.split("[", 1)[1].rstrip("]")
        return f"setting {key} = {value!r}: choose one of {options}"
    if "not in" in message and key:
        return unknown_setting(key)
    kinds = {"Integer": "a whole number", "Float": "a number", "Boolean": "true or false"}
    if key and "could not be converted to " in message:
        kind = message.rsplit(" ", 1)[-1]
        value = getattr(exc, "value", None)
        return f"setting {key} = {value!r} must be {kinds.get(kind, kind)}"
    if key and "is not a valid bool" in message:
        return f"setting {key} = {getattr(exc, 'value', None)!r} must be true or false"
    if key and "is not a ListConfig, list or tuple" in message:
        value = getattr(exc, "value", None)
        shown = "..." if value is None else value
        return f"setting {key} must be a list: write {key}=[{shown}]"
    if key:
        return f"setting {key!r}: {message}"
    return message


def unknown_setting(key):
    """The error for a key the schema lacks: the nearest valid key, else the keys its group has."""
    from omegaconf import DictConfig, OmegaConf

    schema = OmegaConf.structured(Config)
    near = difflib.get_close_matches(key, list(flatten(Config())), n=1, cutoff=0.75)
    if near:
        return f"unknown setting {key!r}; did you mean {near[0]}?"
    group = key.rpartition(".")[0]
    node = OmegaConf.select(schema, group) if group else schema
    if not isinstance(node, DictConfig):
        return f"unknown setting {key!r}"
    return f"unknown setting {key!r}; {group or 'the top level'} has {', '.join(node)}"


def _fraction(key, value):
    """A check for `validate`: a decay rate in [0, 1)."""
    return 0 <= value < 1, key, value, "must lie in [0, 1)"


def validate(config):
    """Raise ConfigError naming the first setting that is out of range.

    Names chosen from a list need no check here: their types admit only the valid ones.
    """
    checks = _train_checks(config.train, config.data.val_fraction)
    checks += _model_checks(config.model) + _data_checks(config.data)
    busy = config.tracking.busy_timeout
    checks.append((busy >= 0, "tracking.busy_timeout", busy, "must be >= 0 (seconds)"))
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
    kernels = model.kernel_sizes
    return [
        (
            all(size >= 1 for size in model.hidden_sizes),
            "model.hidden_sizes",
            model.hidden_sizes,
            "every hidden size must be >= 1",
        ),
        (all(n >= 1 for n in model.filters), "model.filters", model.filters, "must all be >= 1"),
        (
            len(kernels) == len(model.filters),
            "model.kernel_sizes",
            kernels,
            f"must give one kernel side per convolution in model.filters = {model.filters}",
        ),
        (all(k >= 1 for k in kernels), "model.kernel_sizes", kernels, "must all be >= 1"),
        (
            model.padding != "same" or all(k % 2 for k in kernels),
            "model.kernel_sizes",
            kernels,
            "must all be odd for model.padding = same",
        ),
        (model.pool >= 1, "model.pool", model.pool, "must be >= 1 (1: no pooling)"),
        (
            model.image_side is None or model.image_side >= 1,
            "model.image_side",
            model.image_side,
            _OR_NULL % "the side the pixel count gives",
        ),
    ]


def _data_checks(data):
    fractions = (data.val_fraction, data.test_fraction)
    return [
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
    """{'train.lr': 0.5, ...}: the settings as MLflow params, lists and names written as in YAML.

    Walks the dataclasses themselves, which gives the same values as a round trip through
    OmegaConf without building a second config.
    """
    flat = {}

    def walk(node, prefix):
        for item in fields(node):
            value = getattr(node, item.name)
            if is_dataclass(value):
                walk(value, f"{prefix}{item.name}.")
            elif isinstance(value, StrEnum):
                flat[f"{prefix}{item.name}"] = value.value
            else:
                flat[f"{prefix}{item.name}"] = value

    walk(config, "")
    return flat
