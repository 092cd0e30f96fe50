"""The MLflow edge: where runs go, and histories logged in batches."""

import getpass
import sqlite3
from contextlib import closing

import pytest
import sqlalchemy
from mlflow.tracking import MlflowClient

from digitnet import provenance, tracking


@pytest.fixture(autouse=True)
def no_env(monkeypatch):
    names = ("MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_USERNAME", "DVC_ROOT", *provenance.DVC_TAGS)
    for name in names:
        monkeypatch.delenv(name, raising=False)


def test_default_store_is_an_absolute_sqlite_file_in_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert tracking.tracking_uri() == f"sqlite:///{tmp_path.resolve()}/mlflow.db"


def test_dvc_root_wins_over_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DVC_ROOT", "/srv/project")
    assert tracking.tracking_uri() == "sqlite:////srv/project/mlflow.db"


def test_configured_uri_wins_over_the_default(monkeypatch):
    monkeypatch.setenv("DVC_ROOT", "/srv/project")
    assert tracking.tracking_uri("http://127.0.0.1:5000") == "http://127.0.0.1:5000"


def test_environment_wins_over_everything(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5001")
    assert tracking.tracking_uri("http://127.0.0.1:5000") == "http://127.0.0.1:5001"


def test_a_history_longer_than_one_request_is_read_back_whole(tmp_path):
    # 2500 epochs exceed the 1000 metrics MLflow takes in one request.
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    run_id = tracking.start_run(uri, "exp", "r", params={"a": 1}, tags={"t": "x"})
    values = [1.0 / (i + 1) for i in range(2500)]
    tracking.log_batch(uri, run_id, histories={"cost": values})
    history = MlflowClient(tracking_uri=uri).get_metric_history(run_id, "cost")
    assert sorted((m.step, m.value) for m in history) == list(enumerate(values, start=1))


def test_metrics_histories_and_tags_go_in_one_batch(tmp_path):
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    run_id = tracking.start_run(uri, "exp", "r", params={}, tags={})
    tracking.log_batch(
        uri,
        run_id,
        metrics={"epochs_run": 3},
        histories={"cost": [0.9, 0.5, 0.4], "val_cost": [1.0, 0.7]},
        tags={"weights_md5": "abc"},
    )
    client = MlflowClient(tracking_uri=uri)
    run = client.get_run(run_id)
    assert run.data.metrics == {"epochs_run": 3.0, "cost": 0.4, "val_cost": 0.7}
    assert run.data.tags["weights_md5"] == "abc"
    history = client.get_metric_history(run_id, "val_cost")
    assert sorted((m.step, m.value) for m in history) == [(1, 1.0), (2, 0.7)]


def test_a_sqlite_store_writes_ahead_and_commits_without_syncing(tmp_path):
    store = tmp_path / "store.db"
    tracking.client(f"sqlite:///{store}")
    with closing(sqlite3.connect(store)) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert synchronous(store) == 1  # NORMAL


def test_other_sqlite_databases_keep_their_settings(tmp_path):
    tracking.client(f"sqlite:///{tmp_path / 'store.db'}")
    assert synchronous(tmp_path / "other.db") == 2  # FULL, SQLite's default


def synchronous(database):
    """PRAGMA synchronous on a new SQLAlchemy connection to `database`, as MLflow makes them."""
    engine = sqlalchemy.create_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as connection:
            return connection.exec_driver_sql("PRAGMA synchronous").scalar()
    finally:
        engine.dispose()


def test_a_run_ends_with_the_status_given(tmp_path):
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    run_id = tracking.start_run(uri, "exp", "r", params={}, tags={})
    client = MlflowClient(tracking_uri=uri)
    assert client.get_run(run_id).info.status == "RUNNING"
    tracking.end_run(uri, run_id, "FAILED")
    assert client.get_run(run_id).info.status == "FAILED"


def test_a_new_experiment_is_one_of_model_training_with_its_artifacts_beside_the_store(
    tmp_path, monkeypatch
):
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")  # as from a Hydra output directory
    uri = f"sqlite:///{tmp_path / 'project' / 'mlflow.db'}"
    run_id = tracking.start_run(uri, "exp", "r", params={}, tags={})
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("exp")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    assert experiment.artifact_location == f"file://{tmp_path}/project/mlruns"
    assert client.get_run(run_id).info.artifact_uri.startswith(f"file://{tmp_path}/project/mlruns/")


def test_an_experiment_made_without_a_kind_is_given_one(tmp_path):
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    client = MlflowClient(tracking_uri=uri)
    made = client.create_experiment("exp", artifact_location=f"file://{tmp_path}/old")
    assert "mlflow.experimentKind" not in client.get_experiment(made).tags
    assert tracking.experiment_id(tracking.client(uri), "exp", uri) == made
    experiment = client.get_experiment(made)
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    assert experiment.artifact_location == f"file://{tmp_path}/old"  # what it was made with


def test_a_server_chooses_its_own_artifact_location():
    assert tracking.artifact_location("http://127.0.0.1:5000") is None
    assert tracking.artifact_location("sqlite:////srv/p/mlflow.db") == "file:///srv/p/mlruns"


def test_a_run_has_mlflows_tags_for_its_user_source_and_commit_and_no_git_commit_tag(tmp_path):
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    run = MlflowClient(tracking_uri=uri).get_run(
        tracking.start_run(uri, "exp", "r", params={}, tags={"data_md5": "abc"})
    )
    tags = run.data.tags
    assert tags["mlflow.user"] == run.info.user_id == getpass.getuser()
    assert tags["mlflow.source.type"] == "LOCAL"
    assert tags["mlflow.source.name"] == provenance.source_name()
    assert tags["mlflow.source.git.commit"] == provenance.git_commit()
    assert tags["data_md5"] == "abc" and "git_commit" not in tags
    assert not {"dvc.exp_name", "dvc.exp_baseline_rev"} & set(tags)


def test_the_mlflow_user_name_and_a_given_source_win(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "ada")
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    tags = {"mlflow.source.name": "digitnet.train"}
    run = MlflowClient(tracking_uri=uri).get_run(tracking.start_run(uri, "exp", "r", {}, tags))
    assert run.data.tags["mlflow.user"] == "ada"
    assert run.data.tags["mlflow.source.name"] == "digitnet.train"


def test_a_run_under_dvc_exp_run_names_the_experiment_and_its_baseline(tmp_path, monkeypatch):
    monkeypatch.setenv("DVC_EXP_NAME", "azure-mink")
    monkeypatch.setenv("DVC_EXP_BASELINE_REV", "0" * 40)
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    run = MlflowClient(tracking_uri=uri).get_run(tracking.start_run(uri, "exp", "r", {}, {}))
    assert run.data.tags["dvc.exp_name"] == "azure-mink"
    assert run.data.tags["dvc.exp_baseline_rev"] == "0" * 40


def test_a_dataset_digest_is_the_workbooks_md5_and_the_split_within_36_characters():
    md5 = "3660aea3513c0bb46ec1c3721474f558"
    assert tracking.dataset_digest(md5, 0, 0.1, 0.2) == "3660aea3-s0-v0.1-t0.2"
    long = tracking.dataset_digest(md5, 123456789, 0.123456789, 0.2)
    other = tracking.dataset_digest(md5, 123456789, 0.123456788, 0.2)
    assert len(long) <= 36 and long.startswith("3660aea3-") and long != other
