"""Evaluation: argmax accuracy of the saved network on every split, the DVC metrics and plots
files, and the scores logged to the MLflow run that trained the network."""

import json

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from digitnet import evaluation, training
from digitnet.artifacts import load_npz, read_costs
from digitnet.cli import load_config
from digitnet.network import load


def train(*overrides):
    config = load_config(["experiment=tiny", *overrides])
    training.train_model(config=config, processed=config.paths.processed, model_dir="model")
    return config


@pytest.fixture
def trained(prepared):
    """The workspace with a network in model/, trained as experiment=tiny says, untracked."""
    return prepared, train("tracking.enabled=false")


@pytest.fixture
def tracked(prepared):
    """The workspace with a network in model/ and the run that trained it in mlflow.db."""
    return prepared, train()


def evaluate(config, run_id=None, tracking_uri=None):
    return evaluation.evaluate_model(
        processed=config.paths.processed,
        model_dir="model",
        out="eval",
        tracking_uri=tracking_uri,
        run_id=run_id,
    )


def test_accuracy_is_the_share_of_argmax_predictions_of_the_saved_network(trained):
    workspace, config = trained
    report = evaluate(config)
    network = load(workspace / "model/weights.npz")
    for split in ("train", "val", "test"):
        rows = load_npz(workspace / config.paths.processed / f"{split}.npz")
        predicted = np.argmax(network.predict_proba(rows["X"]), axis=1)
        assert report[f"{split}_accuracy"] == np.mean(predicted == rows["classes"]), split
    assert 0.5 < report["train_accuracy"] < 1  # some right and some wrong: the check can fail
    assert report["final_cost"] == read_costs(workspace / "model/cost.csv")[-1]


def test_metrics_json_and_confusion_csv_hold_what_the_report_says(trained):
    workspace, config = trained
    report = evaluate(config)
    written = json.loads((workspace / "eval/metrics.json").read_text())
    assert set(written) == {"train_accuracy", "val_accuracy", "test_accuracy", "final_cost"}
    assert written == {key: report[key] for key in written}
    test_rows = load_npz(workspace / config.paths.processed / "test.npz")
    confusion = np.loadtxt(workspace / "eval/confusion.csv", delimiter=",", skiprows=1, dtype=int)
    assert np.array_equal(confusion[:, 0], test_rows["classes"])
    predicted = load(workspace / "model/weights.npz").predict(test_rows["X"])
    assert np.array_equal(confusion[:, 1], predicted)
    assert (workspace / "eval/confusion.csv").read_text().startswith("actual,predicted\n")


def test_the_run_that_trained_the_network_is_found_by_its_weights_and_gets_the_scores(tracked):
    workspace, config = tracked
    client = MlflowClient(tracking_uri=f"sqlite:///{workspace / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("digitnet").experiment_id])
    uri, run_id = evaluation.training_run(config, "model")
    assert (uri, run_id) == (f"sqlite:///{workspace / 'mlflow.db'}", run.info.run_id)
    report = evaluate(config, run_id, uri)
    logged = client.get_run(run_id).data.metrics
    assert logged["test_accuracy"] == pytest.approx(report["test_accuracy"])
    assert logged["test_recall_3"] == pytest.approx(report["per_class"]["3"]["recall"])
    artifacts = {a.path for a in client.list_artifacts(run_id, "evaluation")}
    assert artifacts == {
        f"evaluation/{name}" for name in (*evaluation.FIGURES, "metrics.json", "per_class.json")
    }
    written = json.loads((workspace / "eval/metrics.json").read_text())
    assert written["mlflow_run_id"] == run_id


def test_the_runs_model_gets_its_accuracies_each_on_the_split_it_was_measured_on(tracked):
    workspace, config = tracked
    uri, run_id = evaluation.training_run(config, "model")
    report = evaluate(config, run_id, uri)
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_run(run_id).info.experiment_id
    (model,) = client.search_logged_models(
        [experiment], order_by=[{"field_name": "metrics.val_accuracy", "ascending": False}]
    )
    linked = {m.key: m for m in model.metrics if m.key.endswith("_accuracy")}
    assert set(linked) == {"train_accuracy", "val_accuracy", "test_accuracy"}
    for key, split in (("train", "train"), ("val", "val"), ("test", "test")):
        metric = linked[f"{key}_accuracy"]
        assert metric.value == pytest.approx(report[f"{key}_accuracy"])
        assert (metric.model_id, metric.run_id) == (model.model_id, run_id)
        assert metric.dataset_name == f"digits {split}"
    assert "test_recall_3" not in {m.key for m in model.metrics}  # on the run only
    assert client.get_run(run_id).data.metrics["test_recall_3"] == pytest.approx(
        report["per_class"]["3"]["recall"]
    )


def test_a_network_no_run_of_the_experiment_trained_has_no_run_to_log_to(tracked, capsys):
    workspace, _ = tracked
    capsys.readouterr()
    elsewhere = load_config(["experiment=tiny", "tracking.experiment=elsewhere"])
    assert evaluation.training_run(elsewhere, "model") == (
        f"sqlite:///{workspace / 'mlflow.db'}",
        None,
    )
    assert capsys.readouterr().out == (
        f"evaluate: no MLflow run in sqlite:///{workspace / 'mlflow.db'} trained this model; "
        "scores not logged\n"
    )


def test_without_tracking_there_is_no_run_to_look_for():
    untracked = load_config(["experiment=tiny", "tracking.enabled=false"])
    assert evaluation.training_run(untracked, "model") == (None, None)


def test_the_first_filters_become_columns_of_pixels_in_the_workbooks_order():
    K = np.arange(2 * 3 * 1 * 2, dtype=float).reshape(2, 3, 1, 2)  # two 2x3 filters
    columns = evaluation.first_filters(K)
    assert columns.shape == (6, 2)
    for j in range(2):  # column-major, as the workbook's rows and plots read them
        np.testing.assert_array_equal(columns[:, j].reshape(2, 3, order="F"), K[:, :, 0, j])


def test_a_convolutional_network_is_scored_and_its_first_filters_drawn(prepared):
    config = train("tracking.enabled=false", "model=cnn", "model.kernel_sizes=[3]")
    scores = evaluate(config)
    assert scores["train_accuracy"] > 0.5
    assert (prepared / "eval" / "hidden_weights.png").stat().st_size > 0
