"""One experiment outside the DVC pipeline: train + evaluate, one MLflow run, Hydra overrides.

    python -m digitnet.train experiment=tutorial
    python -m digitnet.train model.hidden_sizes=[50] train.lr=0.3

It starts from the pipeline's processed arrays (building them from the workbook first if they are
missing) and writes its model and evaluation into Hydra's run directory (outputs/<date>/<time>/),
leaving the pipeline's own outputs alone.
"""

from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig

from digitnet import cli
from digitnet.config import conf_dir, to_config
from digitnet.errors import DigitnetError
from digitnet.stages.evaluate import evaluate
from digitnet.stages.ingest import ingest
from digitnet.stages.preprocess import preprocess_arrays
from digitnet.stages.train import train


def ensure_processed(config):
    """Build the processed arrays with the pipeline's own functions if they are not there yet."""
    if (Path(config.paths.processed) / "meta.json").is_file():
        return
    if not Path(config.paths.ingested).is_file():
        ingest(
            workbook=config.data.workbook,
            out=config.paths.ingested,
            x_sheet=config.data.x_sheet,
            y_sheet=config.data.y_sheet,
            n_classes=config.data.n_classes,
        )
    preprocess_arrays(
        ingested=config.paths.ingested,
        out=config.paths.processed,
        n_classes=config.data.n_classes,
        val_fraction=config.data.val_fraction,
        test_fraction=config.data.test_fraction,
        scaling=config.data.scaling,
        seed=config.seed,
    )


def run_experiment(config, out_dir):
    """Train and evaluate into `out_dir`; return the evaluation report."""
    ensure_processed(config)
    model_dir = Path(out_dir) / "model"
    train(config=config, processed=config.paths.processed, model_dir=model_dir)
    return evaluate(
        processed=config.paths.processed, model_dir=model_dir, out=Path(out_dir) / "eval"
    )


@hydra.main(version_base=None, config_path=str(conf_dir()), config_name="config")
def main(cfg):
    """Hydra entry point; returns the validation accuracy, the objective for sweepers."""
    try:
        report = run_experiment(to_config(cfg), HydraConfig.get().runtime.output_dir)
    except DigitnetError as exc:
        cli.fail(str(exc))
    return report.get("val_accuracy", report["test_accuracy"])


if __name__ == "__main__":
    main()
