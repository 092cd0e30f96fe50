"""DVC stage `train`: fit the network on the training split; weights, cost per epoch, MLflow run.

It reads paths.processed and writes weights.npz and cost.csv into paths.model, as the model.*
and train.* settings say, and logs one MLflow run (tracking.*). A run whose cost ends above
where it began fails with exit status 2 and writes nothing.
"""

from digitnet import cli
from digitnet.training import train_model

PROG = "digitnet stage train"  # also `python -m digitnet.stages.train`
EXAMPLES = [
    "digitnet stage train experiment=best",
    "digitnet stage train train.lr=0.3 train.epochs=200 tracking.enabled=false",
]


def main(argv=None):
    cli.run(
        lambda cfg: train_model(
            config=cfg, processed=cfg.paths.processed, model_dir=cfg.paths.model
        ),
        argv,
        prog=PROG,
        about=__doc__,
        examples=EXAMPLES,
    )


if __name__ == "__main__":
    main()
