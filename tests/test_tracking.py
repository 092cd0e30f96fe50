"""The MLflow edge: where runs go, and histories logged in batches."""

import sqlite3
from contextlib import closing

import pytest
import sqlalchemy
from mlflow.tracking import MlflowClient

from digitnet import tracking


@pytest.fixture(autouse=True)
def no_env(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("DVC_ROOT", raising=False)


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


def test_git_commit_outside_a_repository_is_unknown(tmp_path):
    assert tracking.git_commit(cwd=tmp_path) == "unknown"
