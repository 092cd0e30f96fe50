"""DVC stage `evaluate`: accuracies, per-class scores, confusion matrix, figures; logged to the
MLflow run that trained the model.

It reads paths.processed and paths.model and writes metrics.json, per_class.json, the
confusion matrix and the figures into paths.eval.
"""

from digitnet import cli

PROG = "digitnet stage evaluate"  # also `python -m digitnet.stages.evaluate`
EXAMPLES = [
    "digitnet stage evaluate",
    "digitnet stage evaluate tracking.enabled=false",
]


def main(argv=None):
    def work(cfg):
        # matplotlib and MLflow are loaded after the settings are checked, not before
        from digitnet.evaluation import evaluate_model, training_run

        uri, run_id = training_run(cfg, cfg.paths.model)
        evaluate_model(
            processed=cfg.paths.processed,
            model_dir=cfg.paths.model,
            out=cfg.paths.eval,
            tracking_uri=uri,
            run_id=run_id,
        )

    cli.run(work, argv, prog=PROG, about=__doc__, examples=EXAMPLES)


if __name__ == "__main__":
    main()
