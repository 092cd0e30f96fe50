"""Stage 3: train the network on the training split; weights, cost per epoch, one MLflow run."""

import sys
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np

from digitnet import cli, nn, tracking
from digitnet.artifacts import atomic_dir, file_md5, load_json, load_npz, write_text
from digitnet.augment import augment
from digitnet.config import Config, flatten
from digitnet.errors import ConfigError, TrainingError
from digitnet.fit import Diverged, fit
from digitnet.network import Network, save
from digitnet.optim import learning_rates, make_optimizer

WEIGHTS_TAG = "weights_md5"  # links a model file to the MLflow run that trained it


class Trained(NamedTuple):
    network: Network
    costs: np.ndarray  # shape (epochs,)
    run_id: str | None
    seconds: float  # spent in the epochs alone


def write_costs(path, costs):
    """cost.csv: a header, then `epoch,cost` per epoch (1-based), costs at full precision."""
    rows = "".join(f"{epoch},{float(cost)!r}\n" for epoch, cost in enumerate(costs, start=1))
    write_text(path, "epoch,cost\n" + rows)


def read_costs(path):
    """The costs of a cost.csv, shape (epochs,)."""
    return np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)[:, 1]


def run_name(config):
    """The settings that differ from the built-in defaults, e.g. 'seed=1,train.lr=0.3'.

    A workbook is named by its file name only, to keep run names short in the MLflow UI.
    """

    def settings(cfg):
        flat = flatten(cfg)
        flat["data.workbook"] = Path(flat["data.workbook"]).name
        return flat

    defaults = settings(Config())
    changed = [
        f"{key}={value}"
        for key, value in settings(config).items()
        if key.split(".")[0] in ("seed", "data", "model", "train") and defaults[key] != value
    ]
    return ",".join(changed) or "defaults"


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


def _fit(config, weights, biases, X, Y, rng, validation):
    """Run `fit_config` with a progress bar where one helps; (History, seconds) or TrainingError."""
    progress = epoch_bar(config.train.epochs)
    started = time.perf_counter()
    try:
        history = fit_config(
            config,
            weights,
            biases,
            X,
            Y,
            rng,
            validation,
            on_epoch=progress.update if progress else None,
        )
    except Diverged as exc:
        raise TrainingError(
            f"training diverged: the cost became {exc.cost} at epoch {exc.epoch}; "
            f"try a smaller learning rate than train.lr={config.train.lr}"
        ) from None
    finally:
        if progress:
            progress.close()
    return history, time.perf_counter() - started


def _augmented(X, Y, scaler, method):
    """The training rows grown by `method`; images are moved as raw pixels, then scaled again."""
    if method == "none":
        return X, Y
    try:
        raw = X * scaler["scale"] + scaler["shift"]
        grown, Y = augment(raw, Y, method)
    except ValueError as exc:
        raise ConfigError(f"setting train.augment = {method!r}: {exc}") from None
    return (grown - scaler["shift"]) / scaler["scale"], Y


def _validation(path, dtype):
    """(X_val, Y_val) as `dtype`, or None when the split has no validation rows."""
    if not path.is_file():
        return None
    val = load_npz(path)
    return (val["X"].astype(dtype), val["Y"].astype(dtype)) if len(val["X"]) else None


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


def train(*, config, processed, model_dir, name=None, parent_run_id=None, tags=None):
    """Fit a network as `config` says on <processed>/train.npz and write <model_dir>/.

    Writes weights.npz (a `Network`) and cost.csv (epoch, cost). Returns a `Trained`; its
    run_id is None when tracking is off. The run is tagged with the MD5 of weights.npz,
    which is how the evaluate stage finds it. In a sweep, `name`, `parent_run_id` and `tags`
    place the run under the sweep's parent run.
    """
    processed = Path(processed)
    data = load_npz(processed / "train.npz")
    scaler = load_npz(processed / "scaler.npz")
    meta = load_json(processed / "meta.json")
    dtype = np.dtype(config.train.dtype)
    X, Y = _augmented(data["X"], data["Y"], scaler, config.train.augment)
    X, Y = X.astype(dtype), Y.astype(dtype)
    layer_sizes = [X.shape[1], *config.model.hidden_sizes, Y.shape[1]]
    rng = np.random.default_rng(config.seed)
    weights, biases = nn.init_params(layer_sizes, rng, dtype, init=config.model.init)
    validation = _validation(processed / "val.npz", dtype)

    uri = run_id = None
    if config.tracking.enabled:
        uri = tracking.tracking_uri(config.tracking.uri)
        run_id = tracking.start_run(
            uri,
            config.tracking.experiment,
            name or config.tracking.run_name or run_name(config),
            params=flatten(config),
            tags={"git_commit": tracking.git_commit(), "data_md5": meta["source_md5"]}
            | (tags or {}),
            parent_run_id=parent_run_id,
        )

    with tracking.ending(uri, run_id):
        history, seconds = _fit(config, weights, biases, X, Y, rng, validation)
        costs = history.cost
        network = Network(
            weights,
            biases,
            config.model.activation,
            scaler["shift"],
            scaler["scale"],
            config.model.output,
        )
        with atomic_dir(model_dir) as tmp:
            save(tmp / "weights.npz", network)
            write_costs(tmp / "cost.csv", costs)
        if run_id:
            weights_file = Path(model_dir) / "weights.npz"
            histories = {"cost": costs}
            if history.val_cost is not None:
                histories["val_cost"] = history.val_cost
            tracking.log_batch(
                uri,
                run_id,
                metrics={
                    "train_seconds": seconds,
                    "epochs_run": len(costs),
                    "best_epoch": history.best_epoch,
                },
                histories=histories,
                tags={WEIGHTS_TAG: file_md5(weights_file)},
            )
            if config.tracking.log_model:  # input example: the first rows, unscaled
                examples = data["X"][:3] * scaler["scale"] + scaler["shift"]
                tracking.log_model(
                    uri, run_id, weights_file, examples, config.tracking.register_model
                )

    print(
        describe(config, layer_sizes, history, seconds)
        + (f"; MLflow run {run_id}" if run_id else "")
    )
    return Trained(network, costs, run_id, seconds)


def main(argv=None):
    cli.run(
        lambda cfg: train(config=cfg, processed=cfg.paths.processed, model_dir=cfg.paths.model),
        argv,
    )


if __name__ == "__main__":
    main()
