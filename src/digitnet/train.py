"""One experiment outside the DVC pipeline: train + evaluate, one MLflow run, Hydra overrides.

    python -m digitnet.train experiment=tutorial
    python -m digitnet.train model.hidden_sizes=[50] train.lr=0.3

It starts from the pipeline's processed arrays (building them from the workbook first if they are
missing) and writes its model and evaluation into Hydra's run directory (outputs/<date>/<time>/),
leaving the pipeline's own outputs alone.
"""

import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode

from digitnet import cli, sweep, tracking
from digitnet.artifacts import load_json
from digitnet.config import conf_dir, to_config
from digitnet.stages import ingest, preprocess
from digitnet.stages.evaluate import evaluate
from digitnet.stages.train import train


def ensure_processed(config, out_dir=None):
    """The directory of processed arrays that match `config`, building them if needed.

    The pipeline's arrays (paths.processed) are built if missing and used when their split
    settings match. Otherwise (a sweep over the seed, say) the ingested arrays are split anew
    into <out_dir>/processed. The workbook is read only if no ingested arrays exist yet.
    """
    shared = Path(config.paths.processed)
    if not Path(config.paths.ingested).is_file():
        ingest.from_config(config)
    if not (shared / "meta.json").is_file():
        preprocess.from_config(config)
    wanted = preprocess.split_settings(config)
    meta = load_json(shared / "meta.json")
    if {key: meta.get(key) for key in wanted} == wanted or out_dir is None:
        return shared
    target = Path(out_dir) / "processed"
    preprocess.from_config(config, out=target)
    return target


def run_experiment(config, out_dir, name=None, parent_run_id=None, tags=None):
    """Train and evaluate into `out_dir`; return the evaluation report."""
    processed = ensure_processed(config, out_dir)
    model_dir = Path(out_dir) / "model"
    trained = train(
        config=config,
        processed=processed,
        model_dir=model_dir,
        name=name,
        parent_run_id=parent_run_id,
        tags=tags,
    )
    report = evaluate(
        processed=processed,
        model_dir=model_dir,
        out=Path(out_dir) / "eval",
        tracking_uri=tracking.tracking_uri(config.tracking.uri) if trained.run_id else None,
        run_id=trained.run_id,
    )
    sweep.settle()
    return report | {"run_id": trained.run_id, "train_seconds": trained.seconds}


@hydra.main(version_base=None, config_path=str(conf_dir()), config_name="config")
def app(cfg):
    """Hydra entry point; returns the validation accuracy, the objective for sweepers."""
    hydra_config = HydraConfig.get()
    if hydra_config.mode == RunMode.MULTIRUN:
        return sweep.run_job(cfg, hydra_config)
    with cli.reported():
        report = run_experiment(to_config(cfg), hydra_config.runtime.output_dir)
    return report.get("val_accuracy", report["test_accuracy"])


def main():
    """`python -m digitnet.train` and `digitnet-train`: check the command line, then run."""
    with cli.reported():
        cli.check_overrides(sys.argv[1:])
    app()


if __name__ == "__main__":
    main()
