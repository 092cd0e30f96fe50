"""Stage 4: accuracies, per-class scores, confusion matrix; DVC metrics and plots; MLflow."""

from pathlib import Path

import numpy as np

from digitnet import cli, metrics, nn, plots, tracking
from digitnet.artifacts import atomic_dir, load_json, load_npz, save_json, write_text
from digitnet.network import load
from digitnet.stages.preprocess import SPLITS


def evaluate(*, processed, model_dir, out):
    """Score the model on every split; write metrics.json, per_class.json, confusion.csv, PNGs.

    Accuracy is the share of examples whose highest output is the true class (argmax).
    The MLflow run opened by the train stage, if any, receives the metrics and figures.
    """
    processed, model_dir = Path(processed), Path(model_dir)
    network = load(model_dir / "weights.npz")
    costs = np.loadtxt(model_dir / "cost.csv", delimiter=",", skiprows=1, ndmin=2)[:, 1]
    n_classes = network.weights[-1].shape[1]

    scores = {}
    for split in SPLITS:
        data = load_npz(processed / f"{split}.npz")
        if len(data["classes"]) == 0:
            continue
        predicted = nn.predict(data["X"], network.weights, network.biases, network.activation)
        scores[split] = (data["classes"], predicted)

    summary = {f"{split}_accuracy": metrics.accuracy(*pair) for split, pair in scores.items()}
    summary["final_cost"] = float(costs[-1])
    test_true, test_pred = scores["test"]
    confusion = metrics.confusion_matrix(test_true, test_pred, n_classes)
    precision, recall = metrics.precision_recall(confusion)
    per_class = {
        str(c): {"precision": float(precision[c]), "recall": float(recall[c])}
        for c in range(n_classes)
    }

    with atomic_dir(out) as tmp:
        save_json(tmp / "metrics.json", summary)
        save_json(tmp / "per_class.json", per_class)
        rows = "".join(f"{t},{p}\n" for t, p in zip(test_true, test_pred, strict=True))
        write_text(tmp / "confusion.csv", "actual,predicted\n" + rows)
        plots.cost_curve(costs, tmp / "cost.png")
        plots.confusion(confusion, tmp / "confusion.png")
    out = Path(out)

    run = load_json(model_dir / "run.json")
    if run.get("run_id"):
        class_metrics = {f"test_precision_{c}": precision[c] for c in range(n_classes)}
        class_metrics |= {f"test_recall_{c}": recall[c] for c in range(n_classes)}
        tracking.log_metrics(run["tracking_uri"], run["run_id"], summary | class_metrics)
        tracking.log_artifacts(
            run["tracking_uri"],
            run["run_id"],
            [
                out / name
                for name in ("cost.png", "confusion.png", "metrics.json", "per_class.json")
            ],
            "evaluation",
        )
        tracking.log_artifacts(
            run["tracking_uri"], run["run_id"], [model_dir / "weights.npz"], "model"
        )

    accuracies = ", ".join(f"{split} {summary[f'{split}_accuracy']:.4f}" for split in scores)
    print(f"evaluate: accuracy {accuracies} → {out}/metrics.json")
    return summary | {"per_class": per_class}


def main(argv=None):
    cli.run(
        lambda cfg: evaluate(
            processed=cfg.paths.processed, model_dir=cfg.paths.model, out=cfg.paths.eval
        ),
        argv,
    )


if __name__ == "__main__":
    main()
