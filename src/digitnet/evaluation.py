"""Score a trained network on every split: accuracies, per-class scores, confusion matrix,
figures; the DVC metrics and plots files; the same MLflow run that trained it."""

from pathlib import Path

from digitnet import metrics, plots, tracking
from digitnet.artifacts import atomic_dir, file_md5, load_npz, read_costs, save_json, write_text
from digitnet.network import load
from digitnet.splits import SPLITS

FIGURES = ("cost.png", "confusion.png", "misclassified.png", "hidden_weights.png")


def evaluate_model(*, processed, model_dir, out, tracking_uri=None, run_id=None):
    """Score the model on every split; write metrics.json, per_class.json, confusion.csv, PNGs.

    The PNGs: cost curve, confusion matrix, the misclassified test digits and the hidden units'
    incoming weights as images. Accuracy is the share of examples whose highest output is the
    true class (argmax). With `run_id`, that MLflow run receives the metrics and figures, the
    model it logged its accuracies, and metrics.json the run's id (`mlflow_run_id`), which
    `dvc metrics show` and `dvc exp show` then list beside the scores. If any of that fails,
    the run ends FAILED, with the reason: a FINISHED run has its scores and figures.
    """
    with tracking.adding(tracking_uri, run_id):
        return _evaluate(Path(processed), Path(model_dir), Path(out), tracking_uri, run_id)


def _evaluate(processed, model_dir, out, tracking_uri, run_id):
    network = load(model_dir / "weights.npz")
    costs = read_costs(model_dir / "cost.csv")
    n_classes = network.weights[-1].shape[1]
    splits = {split: load_npz(processed / f"{split}.npz") for split in SPLITS}
    scores = {
        split: (data["classes"], network.predict(data["X"]))  # raw pixels: the network scales
        for split, data in splits.items()
        if len(data["classes"])
    }
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
        save_json(tmp / "metrics.json", summary | ({"mlflow_run_id": run_id} if run_id else {}))
        save_json(tmp / "per_class.json", per_class)
        rows = "".join(f"{t},{p}\n" for t, p in zip(test_true, test_pred, strict=True))
        write_text(tmp / "confusion.csv", "actual,predicted\n" + rows)
        _figures(tmp, network, costs, confusion, splits["test"]["X"], test_true, test_pred)
    if run_id:
        class_metrics = {f"test_precision_{c}": precision[c] for c in range(n_classes)}
        class_metrics |= {f"test_recall_{c}": recall[c] for c in range(n_classes)}
        _log_evaluation(tracking_uri, run_id, summary | class_metrics, out, model_dir)
    accuracies = ", ".join(f"{split} {summary[f'{split}_accuracy']:.4f}" for split in scores)
    print(f"evaluate: accuracy {accuracies} → {out}/metrics.json")
    return summary | {"per_class": per_class}


def _figures(directory, network, costs, confusion, test_pixels, test_true, test_pred):
    """The four PNGs of FIGURES, into `directory`."""
    first, title, noun = network.weights[0], "Hidden units: incoming weights", "units"
    if first.ndim == 4:
        first, title, noun = first_filters(first), "The first convolution's filters", "filters"
    elif len(network.weights) == 1:
        title = "No hidden layer: the output units' incoming weights"
    plots.cost_curve(costs, directory / "cost.png")
    plots.confusion(confusion, directory / "confusion.png")
    plots.misclassified(test_pixels, test_true, test_pred, directory / "misclassified.png")
    plots.hidden_weights(first, directory / "hidden_weights.png", title=title, noun=noun)


def first_filters(K):
    """Kernels (kh, kw, 1, filters) of the first convolution as columns of kh·kw pixels,
    column-major like the workbook's rows, so that plots draws them as it draws hidden units."""
    kh, kw, _, n_filters = K.shape
    return K[:, :, 0, :].transpose(1, 0, 2).reshape(kh * kw, n_filters)


ON_DATASET = {"train_accuracy": "training", "val_accuracy": "validation", "test_accuracy": "test"}


def _log_evaluation(uri, run_id, scores, out, model_dir):
    """The scores on the run; the accuracies also on the model it logged, each linked to the
    dataset (split) it was measured on, so the Models tab ranks models by them."""
    model_id = tracking.logged_model_id(uri, run_id)
    datasets = tracking.run_datasets(uri, run_id) if model_id else {}
    linked = [
        (key, scores[key], model_id, datasets.get(context, (None, None)))
        for key, context in ON_DATASET.items()
        if model_id and key in scores
    ]
    rest = {key: value for key, value in scores.items() if key not in {k for k, *_ in linked}}
    tracking.log_batch(uri, run_id, metrics=rest, model_metrics=linked)
    files = [out / name for name in FIGURES + ("metrics.json", "per_class.json")]
    tracking.log_artifacts(uri, run_id, files, "evaluation")
    # beside, not inside, the run's pyfunc model, which carries its own copy
    tracking.log_artifacts(uri, run_id, [model_dir / "weights.npz"], "weights")


def training_run(config, model_dir):
    """(uri, run id) of the MLflow run that trained <model_dir>/weights.npz, or (None, None)."""
    if not config.tracking.enabled:
        return None, None
    uri = tracking.store_uri(config.tracking)
    weights_md5 = file_md5(Path(model_dir) / "weights.npz")
    run_id = tracking.find_run(uri, config.tracking.experiment, tracking.WEIGHTS_TAG, weights_md5)
    if run_id is None:
        print(f"evaluate: no MLflow run in {uri} trained this model; scores not logged")
    return uri, run_id
