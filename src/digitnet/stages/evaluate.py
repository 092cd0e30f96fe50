"""DVC stage `evaluate`: accuracies, per-class scores, confusion matrix, figures; logged to the
MLflow run that trained the model."""

from digitnet import cli
from digitnet.evaluation import evaluate_model, training_run


def main(argv=None):
    def work(cfg):
        uri, run_id = training_run(cfg, cfg.paths.model)
        evaluate_model(
            processed=cfg.paths.processed,
            model_dir=cfg.paths.model,
            out=cfg.paths.eval,
            tracking_uri=uri,
            run_id=run_id,
        )

    cli.run(work, argv)


if __name__ == "__main__":
    main()
