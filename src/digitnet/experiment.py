"""One experiment end to end: the processed arrays, training, evaluation, one MLflow run.

The Hydra app (digitnet.train) and every sweep job call `run_experiment`; the DVC stages call
its parts (ingestion, splits, training, evaluation) one per process. Nothing here knows Hydra.
"""

import functools
import gc
from pathlib import Path

from digitnet import ingestion, splits, tracking
from digitnet.artifacts import load_json
from digitnet.evaluation import evaluate_model
from digitnet.training import train_model


def ensure_processed(config, out_dir=None):
    """The directory of processed arrays that match `config`, building them if needed.

    The pipeline's arrays (paths.processed) are built if missing and used when their split
    settings match. Otherwise (a sweep over the seed, say) the ingested arrays are split anew
    into <out_dir>/processed. The workbook is read only if no ingested arrays exist yet.
    """
    shared = Path(config.paths.processed)
    if not Path(config.paths.ingested).is_file():
        ingestion.from_config(config)
    if not (shared / "meta.json").is_file():
        splits.from_config(config)
    wanted = splits.split_settings(config)
    meta = load_json(shared / "meta.json")
    if {key: meta.get(key) for key in wanted} == wanted or out_dir is None:
        return shared
    target = Path(out_dir) / "processed"
    splits.from_config(config, out=target)
    return target


def run_experiment(config, out_dir, name=None, parent_run_id=None, tags=None):
    """Train and evaluate into `out_dir`; return the evaluation report with the run's id."""
    processed = ensure_processed(config, out_dir)
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
