"""The four stage functions in-process, on a tiny workbook, with a real MLflow SQLite store."""

import json

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from digitnet import evaluation, ingestion, nn, splits, training
from digitnet.artifacts import file_md5, load_json, load_npz
from digitnet.cli import load_config
from digitnet.network import load
from digitnet.stages import ingest, train
from digitnet.workbook import write_workbook

TINY = [
    "train.epochs=25",
    "train.batch_size=16",
    "data.val_fraction=0.25",
    "data.test_fraction=0.25",
]


@pytest.fixture
def workspace(tmp_path, tiny_workbook, monkeypatch):
    """Run from an empty directory whose MLflow store is a temporary SQLite file."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'store.db'}")
    return tmp_path, tiny_workbook


def run_pipeline(tmp_path, workbook, overrides=()):
    config = load_config([f"data.workbook={workbook}", *TINY, *overrides])
    ingestion.from_config(config)
    splits.from_config(config)
    training.train_model(
        config=config, processed=config.paths.processed, model_dir=config.paths.model
    )
    uri, run_id = evaluation.training_run(config, config.paths.model)
    report = evaluation.evaluate_model(
        processed=config.paths.processed,
        model_dir=config.paths.model,
        out=config.paths.eval,
        tracking_uri=uri,
        run_id=run_id,
    )
    return config, report


def split(tmp_path, workbook, scaling):
    """Ingest `workbook` into in.npz and split it into p/, a quarter each for val and test."""
    ingestion.ingest(workbook=workbook, out=tmp_path / "in.npz")
    splits.make_splits(
        ingested=tmp_path / "in.npz",
        out=tmp_path / "p",
        n_classes=10,
        val_fraction=0.25,
        test_fraction=0.25,
        scaling=scaling,
        seed=0,
    )


def test_ingest_keeps_the_arrays_and_the_workbooks_md5(workspace):
    tmp_path, workbook = workspace
    X, y = ingestion.ingest(workbook=workbook, out=tmp_path / "in.npz")
    saved = load_npz(tmp_path / "in.npz")
    assert np.array_equal(saved["X"], X) and np.array_equal(saved["y"], y)
    assert saved["X"].shape == (80, 16)
    assert str(saved["source_md5"]) == file_md5(workbook)


def test_ingest_of_a_bad_workbook_writes_nothing(workspace, capsys):
    tmp_path, _ = workspace
    bad = tmp_path / "bad.xlsx"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(SystemExit) as exited:
        ingest.main([f"data.workbook={bad}", "paths.ingested=out.npz"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {bad} is not an Excel .xlsx workbook")
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out.npz").exists()
    assert list(tmp_path.glob(".out.npz*")) == []


def test_preprocess_splits_each_class_and_one_hot_encodes(workspace):
    tmp_path, workbook = workspace
    split(tmp_path, workbook, "standard")
    train_part = load_npz(tmp_path / "p/train.npz")
    test_part = load_npz(tmp_path / "p/test.npz")
    assert np.bincount(train_part["classes"], minlength=10).tolist() == [4] * 10
    assert np.bincount(test_part["classes"], minlength=10).tolist() == [2] * 10
    assert np.array_equal(np.argmax(train_part["Y"], axis=1), train_part["classes"])
    assert load_json(tmp_path / "p/meta.json")["sizes"] == {"train": 40, "val": 20, "test": 20}


def test_preprocess_keeps_raw_pixels_and_fits_the_scaler_on_the_training_rows(workspace):
    tmp_path, workbook = workspace
    split(tmp_path, workbook, "standard")
    raw = {tuple(row) for row in load_npz(tmp_path / "in.npz")["X"]}
    train_X = load_npz(tmp_path / "p/train.npz")["X"]
    scaler = load_npz(tmp_path / "p/scaler.npz")
    assert {tuple(row) for row in train_X} <= raw
    scaled = (train_X - scaler["shift"]) / scaler["scale"]
    assert scaled.mean(axis=0) == pytest.approx(np.zeros(16), abs=1e-12)
    assert scaled.std(axis=0) == pytest.approx(np.ones(16))


def test_preprocess_maps_label_10_to_digit_0(workspace):
    tmp_path, workbook = workspace
    split(tmp_path, workbook, "none")
    labels = load_npz(tmp_path / "in.npz")["y"]
    parts = [load_npz(tmp_path / f"p/{s}.npz")["classes"] for s in ("train", "val", "test")]
    assert sorted(np.concatenate(parts).tolist()) == sorted(np.where(labels == 10, 0, labels))


def test_preprocess_refuses_a_split_left_empty(workspace):
    tmp_path, _ = workspace
    write_workbook(tmp_path / "two.xlsx", np.eye(2), np.array([1, 2]))
    ingestion.ingest(workbook=tmp_path / "two.xlsx", out=tmp_path / "in.npz", n_classes=2)
    with pytest.raises(Exception) as raised:
        splits.make_splits(
            ingested=tmp_path / "in.npz",
            out=tmp_path / "p",
            n_classes=2,
            val_fraction=0.1,
            test_fraction=0.2,
            scaling="none",
            seed=0,
        )
    assert str(raised.value) == (
        f"{tmp_path / 'in.npz'}: 2 examples are too few for val_fraction=0.1 and "
        "test_fraction=0.2: the test split is empty"
    )
    assert not (tmp_path / "p").exists()


def test_train_and_evaluate_make_one_complete_mlflow_run(workspace):
    tmp_path, workbook = workspace
    config, report = run_pipeline(tmp_path, workbook)
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'store.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("digitnet").experiment_id])
    assert run.info.status == "FINISHED"
    assert run.info.run_name == (
        "data.workbook=tiny.xlsx,data.val_fraction=0.25,data.test_fraction=0.25,"
        "train.epochs=25,train.batch_size=16"
    )
    assert len(client.get_metric_history(run.info.run_id, "cost")) == 25
    assert run.data.metrics["test_accuracy"] == pytest.approx(report["test_accuracy"])
    assert run.data.metrics["test_recall_3"] == pytest.approx(report["per_class"]["3"]["recall"])
    assert run.data.params["train.lr"] == "0.5"


def test_evaluate_reports_argmax_accuracy_of_the_saved_model(workspace):
    tmp_path, workbook = workspace
    config, report = run_pipeline(tmp_path, workbook)
    network = load(tmp_path / config.paths.model / "weights.npz")
    test_part = load_npz(tmp_path / config.paths.processed / "test.npz")
    scaled = (test_part["X"] - network.shift) / network.scale
    predicted = nn.predict(scaled, network.weights, network.biases, network.activation)
    assert report["test_accuracy"] == np.mean(predicted == test_part["classes"])
    written = json.loads((tmp_path / config.paths.eval / "metrics.json").read_text())
    assert written == {k: report[k] for k in written}
    confusion = np.loadtxt(
        tmp_path / config.paths.eval / "confusion.csv", delimiter=",", skiprows=1, dtype=int
    )
    assert np.array_equal(confusion[:, 0], test_part["classes"])
    assert np.array_equal(confusion[:, 1], predicted)


def test_the_tiny_problem_is_learned(workspace):
    tmp_path, workbook = workspace
    _, report = run_pipeline(tmp_path, workbook, ["train.epochs=100"])
    assert report["train_accuracy"] >= 0.9


def test_training_without_tracking_writes_no_store(workspace, monkeypatch):
    tmp_path, workbook = workspace
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    config, _ = run_pipeline(tmp_path, workbook, ["tracking.enabled=false"])
    assert (tmp_path / config.paths.eval / "metrics.json").is_file()
    assert not list(tmp_path.glob("*.db"))


def test_evaluate_finds_the_run_that_trained_the_model_by_its_weights(workspace):
    tmp_path, workbook = workspace
    config, _ = run_pipeline(tmp_path, workbook)
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'store.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("digitnet").experiment_id])
    weights = tmp_path / config.paths.model / "weights.npz"
    assert run.data.tags["weights_md5"] == file_md5(weights)
    assert evaluation.training_run(config, config.paths.model)[1] == run.info.run_id


def test_evaluate_of_a_model_no_run_knows_logs_nothing(workspace, capsys):
    tmp_path, workbook = workspace
    config, _ = run_pipeline(tmp_path, workbook)
    other = load_config([f"data.workbook={workbook}", *TINY, "tracking.experiment=elsewhere"])
    assert evaluation.training_run(other, config.paths.model)[1] is None
    assert "no MLflow run in" in capsys.readouterr().out


def test_diverging_training_fails_the_run_and_writes_no_model(workspace, capsys):
    tmp_path, workbook = workspace
    config = load_config([f"data.workbook={workbook}", *TINY])
    ingestion.from_config(config)
    splits.from_config(config)
    with pytest.raises(SystemExit) as exited:
        train.main([f"data.workbook={workbook}", *TINY, "train.lr=1e308"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: training diverged: the cost became nan at epoch 1;")
    assert err.strip().endswith("try a smaller learning rate than train.lr=1e+308")
    assert not (tmp_path / config.paths.model).exists()
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'store.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("digitnet").experiment_id])
    assert run.info.status == "FAILED"


def test_run_name_lists_the_settings_that_differ_from_the_defaults():
    assert training.run_name(load_config()) == "defaults"
    assert training.run_name(load_config(["train.lr=0.3", "seed=1"])) == "seed=1,train.lr=0.3"


def test_same_settings_and_seed_give_identical_weights_and_metrics(
    tmp_path, tiny_workbook, monkeypatch
):
    def outcome(directory, *overrides):
        directory.mkdir()
        monkeypatch.chdir(directory)
        config, _ = run_pipeline(directory, tiny_workbook, ["tracking.enabled=false", *overrides])
        return (
            (directory / config.paths.model / "weights.npz").read_bytes(),
            (directory / config.paths.eval / "metrics.json").read_text(),
        )

    first, again = outcome(tmp_path / "a"), outcome(tmp_path / "b")
    other_seed = outcome(tmp_path / "c", "seed=1")
    assert first == again
    assert first[0] != other_seed[0]


def test_ingest_takes_its_size_limits_from_the_settings(workspace, capsys):
    tmp_path, workbook = workspace
    with pytest.raises(SystemExit) as exited:
        ingest.main([f"data.workbook={workbook}", "data.max_file_mb=0.001"])
    assert exited.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {workbook} is ") and "(data.max_file_mb)" in err
    assert not (tmp_path / "artifacts").exists()
