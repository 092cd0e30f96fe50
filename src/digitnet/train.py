"""`digitnet train`: one experiment outside the DVC pipeline: train + evaluate, one MLflow run.

    digitnet train experiment=tutorial
    digitnet train model.hidden_sizes=[50] train.lr=0.3
    digitnet train --help        # the groups, the presets and examples

`python -m digitnet.train` and `digitnet-train` are the same command.

It starts from the pipeline's processed arrays (building them from the workbook first if they are
missing) and writes its model and evaluation into Hydra's run directory (outputs/<date>/<time>/),
leaving the pipeline's own outputs alone.
"""

import signal
import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode

from digitnet import cli, rundirs, sweep
from digitnet.config import conf_dir, store_schema, to_config
from digitnet.errors import Interrupted
from digitnet.experiment import run_experiment

store_schema()  # before @hydra.main composes: Hydra then enforces the schema too
rundirs.register()  # the run's and the sweep's folders: conf/config.yaml's digitnet.new_dir


@hydra.main(version_base=None, config_path=str(conf_dir()), config_name="config")
def app(cfg):
    """Hydra entry point; returns the validation accuracy, the objective for sweepers."""
    hydra_config = HydraConfig.get()
    if hydra_config.mode == RunMode.MULTIRUN:
        return sweep.run_job(cfg, hydra_config)
    with cli.reported():
        report = run_experiment(to_config(cfg), hydra_config.runtime.output_dir)
    return report.get("val_accuracy", report["test_accuracy"])


def main(argv=None):
    """`digitnet train [SETTINGS]`: check every job's settings, then run.

    Importing this module has stored the schema in Hydra's ConfigStore, so Hydra enforces it
    too; the check first makes a bad setting one line and exit status 2, before any job starts.
    """
    if argv is not None:  # from `digitnet train`: Hydra reads the command line from sys.argv
        sys.argv = [sys.argv[0], *argv]
    with cli.reported():
        cli.check_overrides(sys.argv[1:])
        sweep.check_resume(sys.argv[1:])

    def on_sigterm(signum, frame):
        raise Interrupted()

    signal.signal(signal.SIGTERM, on_sigterm)  # a sweep stops on SIGTERM as on Ctrl-C
    try:
        app()
    except KeyboardInterrupt as exc:  # a single run reports its own; this is a sweep's
        sweep.stop(exc)
    if sweep.failed_jobs():
        sys.exit(1)


if __name__ == "__main__":
    main()
