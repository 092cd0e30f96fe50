"""Shared fixtures: tiny real workbooks, a checkout of this project's settings, and a working
directory for in-process runs with a store of their own."""

import pytest

from digitnet import ingestion, splits
from digitnet.cli import load_config
from digitnet.config import store_schema
from digitnet.workbook import write_workbook
from support import make_checkout, tiny_digits

# Some tests compose with Hydra's own compose API, which needs the schema in its ConfigStore.
store_schema()


@pytest.fixture
def tiny_workbook(tmp_path):
    X, y = tiny_digits()
    path = tmp_path / "tiny.xlsx"
    write_workbook(path, X, y)
    return path


@pytest.fixture
def checkout(tmp_path):
    """A directory with this project's conf/ and the tiny digits as data/digits.xlsx."""
    return make_checkout(tmp_path)


@pytest.fixture
def workspace(checkout, monkeypatch):
    """The checkout as this process's working directory, its MLflow store mlflow.db in it, as
    for a user who runs from there (a tracking URI in the environment would win over it)."""
    monkeypatch.chdir(checkout)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("DVC_ROOT", raising=False)
    return checkout


@pytest.fixture
def prepared(workspace):
    """The workspace with the pipeline's arrays built as `dvc repro` builds them (ingest, then
    preprocess), from its workbook as experiment=tiny says."""
    config = load_config(["experiment=tiny"])
    ingestion.from_config(config)
    splits.from_config(config)
    return workspace
