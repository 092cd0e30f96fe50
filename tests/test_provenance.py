"""Who ran what from which commit: the tags every MLflow run gets, without MLflow."""

import subprocess
import sys
import types
from importlib.machinery import ModuleSpec
from pathlib import Path

import pytest

from digitnet import provenance

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def no_env(monkeypatch):
    for name in ("MLFLOW_TRACKING_USERNAME", *provenance.DVC_TAGS):
        monkeypatch.delenv(name, raising=False)


def test_git_commit_is_the_checked_out_commit():
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    assert provenance.git_commit(cwd=ROOT) == head.stdout.strip()


def test_git_commit_outside_a_repository_is_unknown(tmp_path):
    assert provenance.git_commit(cwd=tmp_path) == "unknown"


def test_the_source_is_the_digitnet_command_else_the_module_run_else_the_scripts_name(
    monkeypatch,
):
    monkeypatch.setattr(sys, "argv", ["digitnet stage train", "experiment=best"])
    assert provenance.source_name() == "digitnet stage train"  # as `digitnet` sets argv[0]
    main = types.ModuleType("__main__")
    main.__spec__ = ModuleSpec("digitnet.stages.train", None)
    monkeypatch.setitem(sys.modules, "__main__", main)
    monkeypatch.setattr(sys, "argv", ["/home/ada/.venv/lib/digitnet/stages/train.py"])
    assert provenance.source_name() == "digitnet.stages.train"  # python -m digitnet.stages.train
    main.__spec__ = None
    monkeypatch.setattr(sys, "argv", ["/home/ada/.venv/bin/digitnet-train", "train.lr=0.3"])
    assert provenance.source_name() == "digitnet-train"


def test_the_standard_tags_name_user_source_type_and_commit_and_no_dvc_experiment_outside_one():
    tags = provenance.standard_tags("digitnet.train")
    assert tags["mlflow.source.name"] == "digitnet.train"
    assert tags["mlflow.source.type"] == "LOCAL"
    assert tags["mlflow.source.git.commit"] == provenance.git_commit()
    assert tags["mlflow.user"]
    assert not {"dvc.exp_name", "dvc.exp_baseline_rev"} & set(tags)


def test_under_dvc_exp_run_the_tags_name_the_experiment_and_its_baseline(monkeypatch):
    monkeypatch.setenv("DVC_EXP_NAME", "azure-mink")
    monkeypatch.setenv("DVC_EXP_BASELINE_REV", "0" * 40)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "ada")
    tags = provenance.standard_tags()
    assert tags["dvc.exp_name"] == "azure-mink"
    assert tags["dvc.exp_baseline_rev"] == "0" * 40
    assert tags["mlflow.user"] == "ada"
