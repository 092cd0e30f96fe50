"""One experiment end to end, as the Hydra app and every sweep job run it: the processed arrays
that the settings ask for (the pipeline's when they match, else built once by content), training
and evaluation into the experiment's own directory, one MLflow run that names its real data."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from digitnet import ingestion
from digitnet.artifacts import load_json, load_npz
from digitnet.cli import load_config
from digitnet.experiment import ensure_processed, run_experiment
from digitnet.workbook import write_workbook
from support import tiny_digits


def md5(path):
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def lines(capsys):
    return [line.split(":")[0] for line in capsys.readouterr().out.splitlines()]


def store(workspace):
    return MlflowClient(tracking_uri=f"sqlite:///{workspace / 'mlflow.db'}")


def test_an_experiment_builds_missing_arrays_by_content_then_trains_and_evaluates(
    workspace, capsys
):
    report = run_experiment(load_config(["experiment=tiny"]), workspace / "run")
    assert lines(capsys) == ["ingest", "preprocess", "train", "evaluate"]
    (processed,) = (workspace / "artifacts/by-content").glob("processed-*")
    assert (processed / "train.npz").is_file()
    assert not (workspace / "artifacts/processed").exists()  # the pipeline's, left to DVC
    assert (workspace / "run/model/weights.npz").is_file()
    assert not (workspace / "artifacts/model").exists()
    metrics = json.loads((workspace / "run/eval/metrics.json").read_text())
    assert report["val_accuracy"] == metrics["val_accuracy"]
    run = store(workspace).get_run(report["run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.metrics["val_accuracy"] == pytest.approx(metrics["val_accuracy"])


def test_the_pipelines_arrays_are_used_when_they_were_made_from_this_workbook(prepared, capsys):
    capsys.readouterr()
    config = load_config(["experiment=tiny", "tracking.enabled=false"])
    assert ensure_processed(config) == Path("artifacts/processed")
    run_experiment(config, prepared / "run")
    assert lines(capsys) == ["train", "evaluate"]
    assert not Path("artifacts/by-content").exists()


def test_arrays_record_the_workbooks_md5_and_every_setting_that_made_them(prepared):
    meta = load_json("artifacts/processed/meta.json")
    identity = ["source_md5", "x_sheet", "y_sheet", "n_classes"]
    assert {key: meta[key] for key in identity} == {
        "source_md5": md5("data/digits.xlsx"),
        "x_sheet": "X",
        "y_sheet": "y",
        "n_classes": 10,
    }
    assert ingestion.made_from("artifacts/ingested.npz") == {key: meta[key] for key in identity}


def test_other_split_settings_split_the_pipelines_ingested_arrays_into_a_folder_of_their_own(
    prepared, capsys
):
    before = load_json("artifacts/processed/meta.json")
    capsys.readouterr()
    own = ensure_processed(load_config(["experiment=tiny", "seed=1"]))
    assert lines(capsys) == ["preprocess"]  # split anew, never read anew
    assert own.parent == Path("artifacts/by-content") and own.name.startswith("processed-")
    assert load_json(own / "meta.json")["seed"] == 1
    assert load_json("artifacts/processed/meta.json") == before
    assert ensure_processed(load_config(["experiment=tiny", "seed=1"])) == own
    assert lines(capsys) == []  # the same content is built once


def test_a_replaced_workbook_is_read_again_though_the_pipelines_arrays_are_older(prepared, capsys):
    X, y = tiny_digits(seed=7)
    write_workbook("data/digits.xlsx", X, y)
    capsys.readouterr()
    report = run_experiment(load_config(["experiment=tiny"]), prepared / "run")
    assert lines(capsys) == ["ingest", "preprocess", "train", "evaluate"]
    (ingested,) = Path("artifacts/by-content").glob("ingested-*.npz")
    np.testing.assert_array_equal(load_npz(ingested)["X"], X)
    run = store(prepared).get_run(report["run_id"])
    assert run.data.tags["data_md5"] == md5("data/digits.xlsx")
    assert load_json("artifacts/processed/meta.json")["source_md5"] != md5("data/digits.xlsx")


def test_another_workbook_trains_on_its_own_arrays_and_its_record_names_them(prepared, capsys):
    X, y = tiny_digits(side=8)  # 64 pixels a row, where data/digits.xlsx has 16
    write_workbook("other.xlsx", X, y)
    report = run_experiment(
        load_config(["experiment=tiny", "data.workbook=other.xlsx"]), prepared / "run"
    )
    assert "train: 64-" in capsys.readouterr().out
    run = store(prepared).get_run(report["run_id"])
    assert run.data.tags["data_md5"] == md5("other.xlsx")
    datasets = {item.dataset.name: item.dataset for item in run.inputs.dataset_inputs}
    assert sorted(datasets) == ["other test", "other train", "other val"]
    assert all(d.digest.startswith(md5("other.xlsx")[:8]) for d in datasets.values())
    assert load_npz("run/model/weights.npz")["W0"].shape[0] == 64


def test_arrays_read_from_another_sheet_record_its_name(prepared, capsys):
    X, y = tiny_digits()
    write_workbook("data/digits.xlsx", X, y, x_sheet="pixels")
    capsys.readouterr()
    processed = ensure_processed(load_config(["experiment=tiny", "data.x_sheet=pixels"]))
    assert processed != Path("artifacts/processed")
    assert load_json(processed / "meta.json")["x_sheet"] == "pixels"


def test_a_split_file_deleted_by_hand_is_built_again(prepared, capsys):
    Path("artifacts/processed/train.npz").unlink()
    capsys.readouterr()
    processed = ensure_processed(load_config(["experiment=tiny"]))
    assert lines(capsys) == ["preprocess"]
    assert (processed / "train.npz").is_file()
