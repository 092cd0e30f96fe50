"""One experiment end to end, as the Hydra app and every sweep job run it: the processed arrays
built or reused, training and evaluation into the experiment's own directory, one MLflow run."""

import json
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from digitnet.artifacts import load_json
from digitnet.cli import load_config
from digitnet.experiment import ensure_processed, run_experiment


def test_an_experiment_builds_missing_arrays_then_trains_and_evaluates_into_its_directory(
    workspace, capsys
):
    report = run_experiment(load_config(["experiment=tiny"]), workspace / "run")
    assert [line.split(":")[0] for line in capsys.readouterr().out.splitlines()] == [
        "ingest",
        "preprocess",
        "train",
        "evaluate",
    ]
    assert (workspace / "artifacts/processed/train.npz").is_file()
    assert (workspace / "run/model/weights.npz").is_file()
    assert not (workspace / "artifacts/model").exists()
    metrics = json.loads((workspace / "run/eval/metrics.json").read_text())
    assert report["val_accuracy"] == metrics["val_accuracy"]
    client = MlflowClient(tracking_uri=f"sqlite:///{workspace / 'mlflow.db'}")
    run = client.get_run(report["run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.metrics["val_accuracy"] == pytest.approx(metrics["val_accuracy"])


def test_existing_arrays_are_used_without_reading_the_workbook(prepared, capsys):
    (prepared / "data/digits.xlsx").unlink()
    capsys.readouterr()
    config = load_config(["experiment=tiny", "tracking.enabled=false"])
    run_experiment(config, prepared / "run")
    assert [line.split(":")[0] for line in capsys.readouterr().out.splitlines()] == [
        "train",
        "evaluate",
    ]
    assert (prepared / "run/eval/metrics.json").is_file()


def test_other_split_settings_split_the_ingested_arrays_anew_into_the_experiments_directory(
    prepared,
):
    (prepared / "data/digits.xlsx").unlink()  # split anew, never read anew
    shared = Path("artifacts/processed")
    before = load_json(shared / "meta.json")
    assert ensure_processed(load_config(["experiment=tiny"]), "job0") == shared
    own = ensure_processed(load_config(["experiment=tiny", "seed=1"]), "job1")
    assert own == Path("job1/processed")
    assert load_json(own / "meta.json")["seed"] == 1
    assert load_json(shared / "meta.json") == before
    assert not Path("job0").exists()
