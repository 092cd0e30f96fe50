"""One experiment end to end: the processed arrays, training, evaluation, one MLflow run.

The Hydra app (digitnet.train) and every sweep job call `run_experiment`; the DVC stages call
its parts (ingestion, splits, training, evaluation) one per process. Nothing here knows Hydra.
"""

import functools
import gc
import hashlib
import json
from pathlib import Path

from digitnet import ingestion, splits, tracking
from digitnet.artifacts import load_json
from digitnet.evaluation import evaluate_model
from digitnet.training import train_model


def ensure_processed(config):
    """The directory of processed arrays made from config.data.workbook as `config` says.

    Arrays record what made them: the workbook's MD5, the settings that read it and the split
    settings. The pipeline's arrays (paths.ingested, paths.processed) are used when they are
    the ones asked for. Any others are built once under paths.arrays, in folders named by
    their content, and shared by every run that asks for the same: another workbook, a replaced
    one that `dvc repro` has not read yet, another seed. The pipeline's own arrays are left to
    `dvc repro`.
    """
    made_from = ingestion.identity(
        config.data.workbook,
        x_sheet=config.data.x_sheet,
        y_sheet=config.data.y_sheet,
        n_classes=config.data.n_classes,
    )
    wanted = made_from | splits.split_settings(config)
    pipeline = Path(config.paths.processed)
    if _recorded(pipeline / "meta.json", wanted) == wanted:
        return pipeline
    ingested = Path(config.paths.ingested)
    if ingestion.made_from(ingested) != made_from:
        ingested = Path(config.paths.arrays) / f"ingested-{content_key(made_from)}.npz"
        if not ingested.is_file():
            ingestion.from_config(config, out=ingested)
    processed = Path(config.paths.arrays) / f"processed-{content_key(wanted)}"
    if _recorded(processed / "meta.json", wanted) != wanted:
        splits.from_config(config, ingested=ingested, out=processed, keep_existing=True)
    return processed


def content_key(settings):
    """A short name for what made a set of arrays: the MD5 of its settings, as sorted JSON."""
    return hashlib.md5(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def _recorded(meta_file, wanted):
    """The entries of `wanted` that a meta.json records; none where a file of its folder is
    missing (deleted by hand: the folder is built again)."""
    files = [meta_file.with_name(f"{name}.npz") for name in (*splits.SPLITS, "scaler")]
    complete = meta_file.is_file() and all(f.is_file() for f in files)
    meta = load_json(meta_file) if complete else {}
    return {key: meta.get(key) for key in wanted}


def run_experiment(config, out_dir, name=None, parent_run_id=None, tags=None):
    """Train and evaluate into `out_dir`; return the evaluation report with the run's id."""
    processed = ensure_processed(config)
    model_dir = Path(out_dir) / "model"
    trained = train_model(
        config=config,
        processed=processed,
        model_dir=model_dir,
        name=name,
        parent_run_id=parent_run_id,
        tags=tags,
    )
    report = evaluate_model(
        processed=processed,
        model_dir=model_dir,
        out=Path(out_dir) / "eval",
        tracking_uri=tracking.tracking_uri(config.tracking.uri) if trained.run_id else None,
        run_id=trained.run_id,
    )
    settle()
    return report | {"run_id": trained.run_id, "train_seconds": trained.seconds}


@functools.cache
def settle():
    """Once per process, after its first experiment: collect garbage, then freeze what is left.

    The first experiment loads MLflow, SQLAlchemy and matplotlib, objects that live as long as
    the process. Frozen, they are left out of the full garbage collections that a sweep worker
    running many jobs would otherwise make over them again and again.
    """
    gc.collect()
    gc.freeze()
