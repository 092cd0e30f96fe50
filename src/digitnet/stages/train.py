"""DVC stage `train`: fit the network on the training split; weights, cost per epoch, MLflow run.

It reads paths.processed and writes weights.npz and cost.csv into paths.model, as the model.*
and train.* settings say, and logs one MLflow run (tracking.*). A run whose cost ends above
where it began fails with exit status 2 and writes nothing.
"""

from digitnet import cli

PROG = "digitnet stage train"  # also `python -m digitnet.stages.train`
EXAMPLES = [
    "digitnet stage train experiment=best",
    "digitnet stage train train.lr=0.3 train.epochs=200 tracking.enabled=false",
]


def work(cfg):
    from digitnet.training import train_model  # after the settings are checked

    train_model(config=cfg, processed=cfg.paths.processed, model_dir=cfg.paths.model)


def main(argv=None):
    cli.run(
        work,
        argv,
        prog=PROG,
        about=__doc__,
        examples=EXAMPLES,
    )


if __name__ == "__main__":
    main()
