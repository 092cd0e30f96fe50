"""Stage 4: accuracies, per-class scores, confusion matrix; DVC metrics and plots; MLflow."""

from pathlib import Path

from digitnet import cli, metrics, nn, plots, tracking
from digitnet.artifacts import atomic_dir, file_md5, load_npz, save_json, write_text
from digitnet.network import load
from digitnet.stages.preprocess import SPLITS
from digitnet.stages.train import WEIGHTS_TAG, read_costs

FIGURES = ("cost.png", "confusion.png", "misclassified.png", "hidden_weights.png")


def evaluate(*, processed, model_dir, out, tracking_uri=None, run_id=None):
    """Score the model on every split; write metrics.json, per_class.json, confusion.csv, PNGs.

    The PNGs: cost curve, confusion matrix, the misclassified test digits and the hidden units'
    incoming weights as images.

    Accuracy is the share of examples whose highest output is the true class (argmax).
    With `run_id`, that MLflow run (the one that trained the model) receives the metrics and
    figures.
    """
    processed, model_dir = Path(processed), Path(model_dir)
    network = load(model_dir / "weights.npz")
    costs = read_costs(model_dir / "cost.csv")
    n_classes = network.weights[-1].shape[1]

    scores = {}
    for split in SPLITS:
        data = load_npz(processed / f"{split}.npz")
        if len(data["classes"]) == 0:
            continue
        predicted = nn.predict(
            data["X"], network.weights, network.biases, network.activation, network.output
        )
        scores[split] = (data["classes"], predicted)
        if split == "test":
            test_pixels = data["X"] * network.scale + network.shift  # undo scaling: raw pixels

    summary = {f"{split}_accuracy": metrics.accuracy(*pair) for split, pair in scores.items()}
    summary["final_cost"] = float(costs[-1])
    test_true, test_pred = scores["test"]
    confusion = metrics.confusion_matrix(test_true, test_pred, n_classes)
    precision, recall = metrics.precision_recall(confusion)
    per_class = {
        str(c): {"precision": float(precision[c]), "recall": float(recall[c])}
        for c in range(n_classes)
    }

    units_title = "Hidden units: incoming weights"
    if len(network.weights) == 1:
        units_title = "No hidden layer: the output units' incoming weights"
    with atomic_dir(out) as tmp:
        save_json(tmp / "metrics.json", summary)
        save_json(tmp / "per_class.json", per_class)
        rows = "".join(f"{t},{p}\n" for t, p in zip(test_true, test_pred, strict=True))
        write_text(tmp / "confusion.csv", "actual,predicted\n" + rows)
        plots.cost_curve(costs, tmp / "cost.png")
        plots.confusion(confusion, tmp / "confusion.png")
        plots.misclassified(test_pixels, test_true, test_pred, tmp / "misclassified.png")
        plots.hidden_weights(network.weights[0], tmp / "hidden_weights.png", title=units_title)
    out = Path(out)

    if run_id:
        class_metrics = {f"test_precision_{c}": precision[c] for c in range(n_classes)}
        class_metrics |= {f"test_recall_{c}": recall[c] for c in range(n_classes)}
        tracking.log_metrics(tracking_uri, run_id, summary | class_metrics)
        tracking.log_artifacts(
            tracking_uri,
            run_id,
            [out / name for name in FIGURES + ("metrics.json", "per_class.json")],
            "evaluation",
        )
        # beside, not inside, the pyfunc model at runs:/<id>/model, which carries its own copy
        tracking.log_artifacts(tracking_uri, run_id, [model_dir / "weights.npz"], "weights")

    accuracies = ", ".join(f"{split} {summary[f'{split}_accuracy']:.4f}" for split in scores)
    print(f"evaluate: accuracy {accuracies} → {out}/metrics.json")
    return summary | {"per_class": per_class}


def training_run(config, model_dir):
    """(uri, run id) of the MLflow run that trained <model_dir>/weights.npz, or (None, None)."""
    if not config.tracking.enabled:
        return None, None
    uri = tracking.tracking_uri(config.tracking.uri)
    weights_md5 = file_md5(Path(model_dir) / "weights.npz")
    run_id = tracking.find_run(uri, config.tracking.experiment, WEIGHTS_TAG, weights_md5)
    if run_id is None:
        print(f"evaluate: no MLflow run in {uri} trained this model; scores not logged")
    return uri, run_id


def main(argv=None):
    def work(cfg):
        uri, run_id = training_run(cfg, cfg.paths.model)
        evaluate(
            processed=cfg.paths.processed,
            model_dir=cfg.paths.model,
            out=cfg.paths.eval,
            tracking_uri=uri,
            run_id=run_id,
        )

    cli.run(work, argv)


if __name__ == "__main__":
    main()
