"""Train a network as the settings say: data in, weights and cost history out, one MLflow run.

The loop itself is `fit.fit`, which knows nothing of settings or files; this module turns a
`Config` into its arguments, reads the training split, writes the model directory and records
the run.
"""

import functools
import math
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

import numpy as np
from omegaconf import OmegaConf
from threadpoolctl import threadpool_limits

from digitnet import convnet, nn, tracking
from digitnet.artifacts import atomic_dir, file_md5, load_json, load_npz, write_costs
from digitnet.augment import augment
from digitnet.config import Config, ModelConfig, conf_dir, flatten
from digitnet.errors import ConfigError, TrainingError
from digitnet.fit import Diverged, fit, fit_net, rose
from digitnet.logged_model import log_model
from digitnet.network import Network, save
from digitnet.optim import learning_rates, make_optimizer


class Trained(NamedTuple):
    network: Network
    costs: np.ndarray  # shape (epochs,)
    run_id: str | None
    seconds: float  # spent in the epochs alone


def train_model(*, config, processed, model_dir, name=None, parent_run_id=None, tags=None):
    """Fit a network as `config` says on <processed>/train.npz and write <model_dir>/.

    Writes weights.npz (a `Network`) and cost.csv (epoch, cost). Returns a `Trained`; its
    run_id is None when tracking is off. The run is tagged with the MD5 of weights.npz,
    which is how evaluation finds it. In a sweep, `name`, `parent_run_id` and `tags`
    place the run under the sweep's parent run.
    """
    processed = Path(processed)
    data = load_npz(processed / "train.npz")
    scaler = load_npz(processed / "scaler.npz")
    dtype = np.dtype(config.train.dtype)
    X, Y = _augmented(data["X"], data["Y"], config.train.augment)
    rng = np.random.default_rng(config.seed)
    network = new_network(config, X.shape[1], Y.shape[1], scaler, rng)
    X, Y = network.scaled(X).astype(dtype), Y.astype(dtype)
    validation = _validation(network, processed / "val.npz", dtype)
    meta = load_json(processed / "meta.json")
    name = name or config.tracking.run_name or run_name(config)
    uri, run_id = _open_run(config, name, meta["source_md5"], parent_run_id, tags)

    with tracking.ending(uri, run_id):
        if run_id:
            log_datasets(uri, run_id, config, processed)
        history, seconds = _fit(config, network, X, Y, rng, validation)
        with atomic_dir(model_dir) as tmp:
            save(tmp / "weights.npz", network)
            write_costs(tmp / "cost.csv", history.cost)
        model_uri = None
        if run_id:
            logged = _log_training(uri, run_id, config, history, seconds, Path(model_dir), name)
            model_uri = logged(data["X"][:3])  # input example: the first rows of raw pixels
    logged = [f"MLflow run {run_id}"] * bool(run_id) + [f"model {model_uri}"] * bool(model_uri)
    print("; ".join([describe(config, network, history, seconds), *logged]))
    return Trained(network, history.cost, run_id, seconds)


def new_network(config, n_features, n_classes, scaler, rng):
    """The untrained `Network` that config.model describes, its weights drawn from `rng`."""
    model, dtype = config.model, np.dtype(config.train.dtype)
    shift, scale = scaler["shift"], scaler["scale"]
    if not model.filters:
        layer_sizes = [n_features, *model.hidden_sizes, n_classes]
        weights, biases = nn.init_params(layer_sizes, rng, dtype, init=model.init)
        return Network(weights, biases, model.activation, shift, scale, model.output)
    side = image_side(model.image_side, n_features)
    try:
        weights, biases = convnet.init_params(
            side,
            model.filters,
            model.kernel_sizes,
            model.hidden_sizes,
            n_classes,
            rng,
            padding=model.padding,
            pool=model.pool,
            dtype=dtype,
            init=model.init,
        )
    except ValueError as exc:
        raise ConfigError(f"model.filters = {model.filters}: {exc}") from None
    return Network(
        weights,
        biases,
        model.activation,
        shift,
        scale,
        model.output,
        side,
        model.padding,
        model.pool,
    )


def image_side(setting, n_features):
    """The side of the square images that rows of `n_features` pixels hold: `setting`
    (model.image_side) if given and consistent, else the square root of the count."""
    if setting is None:
        side = math.isqrt(n_features)
        if side * side != n_features:
            raise ConfigError(
                f"a convolutional network needs square images, and {n_features} pixels per row "
                "are not one; use a dense network (model=mlp)"
            )
        return side
    if setting * setting != n_features:
        raise ConfigError(
            f"setting model.image_side = {setting} means {setting * setting} pixels per row, "
            f"but the rows have {n_features}; set model.image_side=null to take the side from them"
        )
    return setting


def _augmented(X, Y, method):
    """The training rows grown by `method`, as raw pixels."""
    if method == "none":
        return X, Y
    try:
        return augment(X, Y, method)
    except ValueError as exc:
        raise ConfigError(f"setting train.augment = {method!r}: {exc}") from None


def _validation(network, path, dtype):
    """(X_val, Y_val) scaled, as `dtype`, or None when the split has no validation rows."""
    if not path.is_file():
        return None
    val = load_npz(path)
    if not len(val["X"]):
        return None
    return network.scaled(val["X"]).astype(dtype), val["Y"].astype(dtype)


def _open_run(config, name, source_md5, parent_run_id, tags):
    """(uri, run id) of a new RUNNING MLflow run with the settings, or (None, None)."""
    if not config.tracking.enabled:
        return None, None
    uri = tracking.store_uri(config.tracking)
    run_id = tracking.start_run(
        uri,
        config.tracking.experiment,
        name,
        params=flatten(config),
        tags={"data_md5": source_md5} | (tags or {}),
        parent_run_id=parent_run_id,
    )
    return uri, run_id


SPLIT_CONTEXTS = {"train": "training", "val": "validation", "test": "test"}


def log_datasets(uri, run_id, config, processed):
    """The train, validation and test splits as the run's datasets, named '<workbook> <split>'.

    Their source is the workbook, an absolute file URI in the project (a `dvc exp run` copy is
    temporary); their digest, the workbook's MD5 and the split settings.
    """
    meta = load_json(processed / "meta.json")
    workbook = Path(config.data.workbook)
    source = (tracking.project_root() / workbook).resolve().as_uri()
    digest = tracking.dataset_digest(
        meta["source_md5"], meta["seed"], meta["val_fraction"], meta["test_fraction"]
    )
    datasets = {}
    for split, context in SPLIT_CONTEXTS.items():
        path = processed / f"{split}.npz"
        rows = load_npz(path) if path.is_file() else {"X": ()}
        if len(rows["X"]):
            datasets[context] = (f"{workbook.stem} {split}", rows["X"], rows["Y"])
    tracking.log_datasets(uri, run_id, datasets, source, digest)


def _log_training(uri, run_id, config, history, seconds, model_dir, name):
    """The cost histories, timings and weights' MD5 in one batch; then a function that logs the
    model, if asked for, named after the run, and returns its URI (or returns None)."""
    weights_file = model_dir / "weights.npz"
    histories = {"cost": history.cost}
    if history.val_cost is not None:
        histories["val_cost"] = history.val_cost
    tracking.log_batch(
        uri,
        run_id,
        metrics={
            "train_seconds": seconds,
            "epochs_run": len(history.cost),
            "best_epoch": history.best_epoch,
        },
        histories=histories,
        tags={tracking.WEIGHTS_TAG: file_md5(weights_file)},
    )
    if not config.tracking.log_model:
        return lambda examples: None
    register = config.tracking.register_model
    return lambda examples: log_model(uri, run_id, weights_file, examples, register, name=name)


def _fit(config, network, X, Y, rng, validation):
    """Train `network` in place with a progress bar where one helps; (History, seconds)."""
    progress = epoch_bar(config.train.epochs)
    started = time.perf_counter()
    try:
        history = fit_config(
            config,
            network,
            X,
            Y,
            rng,
            validation,
            on_epoch=progress.update if progress else None,
        )
    except Diverged as exc:
        raise _diverged(config, f"became {exc.cost} at epoch {exc.epoch}") from None
    finally:
        if progress:
            progress.close()
    check_learned(config, history)
    return history, time.perf_counter() - started


def check_learned(config, history):
    """Refuse a network that ends worse than it began (see fit.rose), before it is written: a
    run that learned nothing must not end FINISHED, where `digitnet promote` would find it."""
    if rose(history):
        kept = history.cost[history.best_epoch - 1]
        raise _diverged(
            config,
            f"rose from {history.start_cost:.4g} before the first step "
            f"to {kept:.4g} at epoch {history.best_epoch}",
        )


def _diverged(config, how):
    return TrainingError(
        f"training diverged: the cost {how}; "
        f"try a smaller learning rate than train.lr={config.train.lr}"
    )


def fit_config(config, network, X, Y, rng, validation=None, on_epoch=None):
    """Train `network` in place with the optimiser, schedule and early stopping that
    `config.train` names."""
    settings = config.train
    how = dict(
        lr=learning_rates(
            settings.schedule,
            settings.lr,
            settings.epochs,
            step_every=settings.step_every,
            gamma=settings.gamma,
            lr_min=settings.lr_min,
        ),
        optimizer=make_optimizer(
            settings.optimizer,
            momentum=settings.momentum,
            beta1=settings.beta1,
            beta2=settings.beta2,
        ),
        epochs=settings.epochs,
        batch_size=settings.batch_size,
        l2=settings.l2,
        rng=rng,
        validation=validation,
        patience=settings.patience,
        on_epoch=on_epoch,
    )
    if network.image_side is not None:
        # A convolution's products are tall and thin (kh·kw·channels columns): splitting them
        # over threads costs more than it saves, many times more when another process holds a
        # core (docs/benchmarks.md). One thread also makes the numbers the same on any machine.
        with threadpool_limits(limits=1, user_api="blas"):
            return fit_net(network.convnet(), X, Y, **how)
    return fit(
        network.weights,
        network.biases,
        X,
        Y,
        activation=network.activation,
        output=network.output,
        **how,
    )


NAMED = ("seed", "data", "model", "train")  # the settings a run name tells apart
SHORT = {"model.hidden_sizes": "hidden"}  # a shorter word where the setting's own is long


def run_name(config):
    """The preset, then the model if it is not the preset's, then the settings that differ
    from it: 'best', 'best lr=0.01', 'default hidden=[50] lr=0.3', 'cnn model=mlp'.

    Keys are shortened to their last part (or SHORT's word) where no other setting ends the
    same; a workbook is named by its file name. The preset's settings are the schema's defaults
    with conf/model/<model>.yaml and conf/experiment/<preset>.yaml on top, not the rest of
    conf/ as it now is: a `dvc exp run -S conf/train/gd.yaml:lr=0.2` is then named
    'default lr=0.2', as it should be.
    """
    preset, model = config.preset, config.model.name
    ours, base = _named_settings(config), _named_settings(preset_settings(preset, model))
    changed = [key for key, value in ours.items() if base.get(key) != value]
    leaves = [key.rsplit(".", 1)[-1] for key in ours]
    words = [
        SHORT.get(key) or (leaf if leaves.count(leaf) == 1 else key)
        for key, leaf in zip(ours, leaves, strict=True)
    ]
    short = dict(zip(ours, words, strict=True))
    chosen = [f"model={model}"] * (model != preset_model(preset))
    return " ".join([preset, *chosen] + [f"{short[key]}={_text(ours[key])}" for key in changed])


def _named_settings(config):
    flat = {k: v for k, v in flatten(config).items() if k.split(".")[0] in NAMED}
    flat["data.workbook"] = Path(flat["data.workbook"]).name
    return flat


def _text(value):
    """A setting as on a Hydra command line: [50,10], null, true, 0.01."""
    if isinstance(value, list):
        return "[" + ",".join(map(_text, value)) + "]"
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    return str(value)


def preset_settings(preset, model=None):
    """The `Config` that experiment=<preset> gives on the schema's defaults, with the model
    group `model` (conf/model/<model>.yaml) if given, else the preset's."""
    model = model or preset_model(preset)
    return _preset_settings(
        conf_dir() / "experiment" / f"{preset}.yaml", conf_dir() / "model" / f"{model}.yaml"
    )


def preset_model(preset):
    """The model group a preset chooses (`override /model: cnn` in its defaults), else mlp."""
    return _preset_model(conf_dir() / "experiment" / f"{preset}.yaml")


@functools.cache
def _preset_model(path):
    preset = OmegaConf.load(path) if path.is_file() else None
    for entry in (preset or {}).get("defaults", []):
        if isinstance(entry, Mapping) and "override /model" in entry:
            return entry["override /model"]
    return ModelConfig.name


@functools.cache
def _preset_settings(path, model_path):
    """Read once per process: a preset is a few lines of YAML, merged onto the schema without
    composing conf/ again (which a running Hydra app would not allow anyway)."""
    schema = OmegaConf.structured(Config)
    if model_path.is_file():
        schema = OmegaConf.merge(schema, {"model": OmegaConf.load(model_path) or {}})
    if path.is_file():
        preset = OmegaConf.load(path) or OmegaConf.create()
        schema = OmegaConf.merge(schema, {k: v for k, v in preset.items() if k != "defaults"})
    return OmegaConf.to_object(schema)


def describe(config, network, history, seconds):
    """One line saying what was trained and how it went."""
    settings = config.train
    sizes = architecture(network)
    batch = "full batch" if settings.batch_size is None else f"batch {settings.batch_size}"
    schedule = "" if settings.schedule == "constant" else f" ({settings.schedule} schedule)"
    epochs = f"{settings.epochs} epochs"
    if len(history.cost) < settings.epochs or history.best_epoch < len(history.cost):
        epochs = (
            f"{len(history.cost)} of {settings.epochs} epochs, "
            f"weights of epoch {history.best_epoch} kept"
        )
    return (
        f"train: {sizes} {config.model.activation}/{config.model.output}, {settings.optimizer} "
        f"lr {settings.lr}{schedule}, {batch}, {settings.dtype}, {epochs}: "
        f"cost {history.cost[0]:.4f} → {history.cost[-1]:.4f} in {seconds:.1f} s"
    )


def architecture(network):
    """'400-25-10' for a dense network; '20x20-conv5x16-pool2-1024-10' for a convolutional one."""
    sizes = network.layer_sizes
    if network.image_side is None:
        return "-".join(map(str, sizes))
    side, pool = network.image_side, f"-pool{network.pool}" * (network.pool > 1)
    convolutions = [f"conv{K.shape[0]}x{K.shape[3]}{pool}" for K in network.weights if K.ndim == 4]
    return "-".join([f"{side}x{side}", *convolutions, *map(str, sizes[1:])])


def epoch_bar(epochs):
    """A progress bar over epochs on an interactive terminal; None otherwise (logs, CI, sweeps)."""
    if not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return _EpochBar(tqdm(total=epochs, unit="epoch", leave=False, desc="train"))


class _EpochBar:
    def __init__(self, bar):
        self.bar = bar

    def update(self, epoch, cost):
        self.bar.set_postfix(cost=f"{cost:.4f}", refresh=False)
        self.bar.update(1)

    def close(self):
        self.bar.close()
