"""DVC stage `train`: fit the network on the training split; weights, cost per epoch, MLflow run."""

from digitnet import cli
from digitnet.training import train_model


def main(argv=None):
    cli.run(
        lambda cfg: train_model(
            config=cfg, processed=cfg.paths.processed, model_dir=cfg.paths.model
        ),
        argv,
    )


if __name__ == "__main__":
    main()
