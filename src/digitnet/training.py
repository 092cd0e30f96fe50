"""Train a network as the settings say: data in, weights and cost history out, one MLflow run.

The loop itself is `fit.fit`, which knows nothing of settings or files; this module turns a
`Config` into its arguments, reads the training split, writes the model directory and records
the run.
"""

import functools
import sys
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
from omegaconf import OmegaConf

from digitnet import nn, tracking
from digitnet.artifacts import atomic_dir, file_md5, load_json, load_npz, write_costs
from digitnet.augment import augment
from digitnet.config import Config, conf_dir, flatten
from digitnet.errors import ConfigError, TrainingError
from digitnet.fit import Diverged, fit, rose
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
    layer_sizes = [X.shape[1], *config.model.hidden_sizes, Y.shape[1]]
    rng = np.random.default_rng(config.seed)
    weights, biases = nn.init_params(layer_sizes, rng, dtype, init=config.model.init)
    model = config.model
    network = Network(
        weights, biases, model.activation, scaler["shift"], scaler["scale"], model.output
    )
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
    print("; ".join([describe(config, layer_sizes, history, seconds), *logged]))
    return Trained(network, history.cost, run_id, seconds)


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
    uri = tracking.tracking_uri(config.tracking.uri)
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
            network.weights,
            network.biases,
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


def fit_config(config, weights, biases, X, Y, rng, validation=None, on_epoch=None):
    """`fit` with the optimiser, schedule and early stopping that `config.train` names."""
    settings = config.train
    return fit(
        weights,
        biases,
        X,
        Y,
        activation=config.model.activation,
        output=config.model.output,
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


NAMED = ("seed", "data", "model", "train")  # the settings a run name tells apart
SHORT = {"model.hidden_sizes": "hidden"}  # a shorter word where the setting's own is long


def run_name(config):
    """The preset, then the settings that differ from it: 'best', 'best lr=0.01',
    'default hidden=[50] lr=0.3'.

    Keys are shortened to their last part (or SHORT's word) where no other setting ends the
    same; a workbook is named by its file name. The preset's settings are the schema's defaults
    with conf/experiment/<preset>.yaml on top, not conf/ as it now is: a `dvc exp run -S
    conf/train/gd.yaml:lr=0.2` is then named 'default lr=0.2', as it should be.
    """
    ours, base = _named_settings(config), _named_settings(preset_settings(config.preset))
    changed = [key for key, value in ours.items() if base.get(key) != value]
    leaves = [key.rsplit(".", 1)[-1] for key in ours]
    words = [
        SHORT.get(key) or (leaf if leaves.count(leaf) == 1 else key)
        for key, leaf in zip(ours, leaves, strict=True)
    ]
    short = dict(zip(ours, words, strict=True))
    return " ".join([config.preset] + [f"{short[key]}={_text(ours[key])}" for key in changed])


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


def preset_settings(preset):
    """The `Config` that experiment=<preset> gives on the schema's defaults."""
    return _preset_settings(conf_dir() / "experiment" / f"{preset}.yaml")


@functools.cache
def _preset_settings(path):
    """Read once per process: a preset is a few lines of YAML, merged onto the schema without
    composing conf/ again (which a running Hydra app would not allow anyway)."""
    schema = OmegaConf.structured(Config)
    if path.is_file():
        preset = OmegaConf.load(path) or OmegaConf.create()
        schema = OmegaConf.merge(schema, {k: v for k, v in preset.items() if k != "defaults"})
    return OmegaConf.to_object(schema)


def describe(config, layer_sizes, history, seconds):
    """One line saying what was trained and how it went."""
    settings = config.train
    sizes = "-".join(map(str, layer_sizes))
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
