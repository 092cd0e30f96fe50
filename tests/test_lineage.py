"""Lineage: from the served model `models:/digits@champion` back to the run that trained it, its
full settings, the data's MD5, the git commit, the datasets and the DVC experiment; and from
`dvc exp show` forward to the same run. The real dvc, `digitnet promote` and an MLflow store."""

import hashlib
import json
import subprocess
import sys

import pytest
from mlflow.tracking import MlflowClient

from digitnet.cli import load_config
from digitnet.config import flatten
from digitnet.workbook import write_workbook
from support import make_project, sh, tiny_digits, tool_env

pytestmark = pytest.mark.slow

EXPERIMENT = "lineage"  # the DVC experiment's name
PRESET = "tutorial"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A project after `dvc exp run -S experiment=tutorial -n lineage` and `digitnet promote`
    of the run that experiment's metrics.json names; (root, client, that run id, champion)."""
    root = tmp_path_factory.mktemp("lineage")
    workbook = tmp_path_factory.mktemp("workbook") / "digits.xlsx"
    write_workbook(workbook, *tiny_digits())
    make_project(root, workbook)
    sh(["dvc", "exp", "run", "-n", EXPERIMENT, "-S", f"experiment={PRESET}"], root)
    run_id = shown_run_id(root)
    promoted = subprocess.run(
        [sys.executable, "-m", "digitnet", "promote", "--run", run_id],
        cwd=root,
        env=tool_env(),
        capture_output=True,
        text=True,
    )
    assert promoted.returncode == 0, promoted.stderr
    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    return root, client, run_id, client.get_model_version_by_alias("digits", "champion")


def shown_run_id(root):
    """The MLflow run id that `dvc exp show` gives for the experiment named EXPERIMENT."""
    shown = json.loads(sh(["dvc", "exp", "show", "--json"], root).stdout)
    (found,) = [
        exp["revs"][0]["data"]
        for rev in shown
        for exp in rev.get("experiments") or []
        if exp["name"] == EXPERIMENT
    ]
    assert found["params"]["params.yaml"]["data"]["experiment"] == PRESET
    return found["metrics"]["artifacts/eval/metrics.json"]["data"]["mlflow_run_id"]


def test_the_champion_alias_leads_to_the_run_dvc_exp_show_names(served):
    _, client, run_id, champion = served
    assert champion.run_id == run_id
    assert client.get_run(run_id).info.status == "FINISHED"


def test_the_run_holds_its_full_settings(served):
    _, client, run_id, _ = served
    params = client.get_run(run_id).data.params
    expected = {
        key: str(value) for key, value in flatten(load_config([f"experiment={PRESET}"])).items()
    }
    assert params == expected
    assert params["preset"] == PRESET


def test_the_run_names_the_data_commit_and_dvc_experiment(served):
    root, client, run_id, _ = served
    tags = client.get_run(run_id).data.tags
    baseline = sh(["git", "rev-parse", "HEAD"], root).stdout.strip()
    data_md5 = hashlib.md5((root / "data" / "digits.xlsx").read_bytes()).hexdigest()
    assert tags["data_md5"] == data_md5
    assert tags["mlflow.source.git.commit"] == baseline
    assert tags["dvc.exp_name"] == EXPERIMENT
    assert tags["dvc.exp_baseline_rev"] == baseline


def test_the_run_lists_the_three_splits_of_the_workbook_as_datasets(served):
    root, client, run_id, _ = served
    data_md5 = hashlib.md5((root / "data" / "digits.xlsx").read_bytes()).hexdigest()
    inputs = client.get_run(run_id).inputs.dataset_inputs
    contexts = {
        {tag.key: tag.value for tag in item.tags}["mlflow.data.context"]: item.dataset
        for item in inputs
    }
    assert set(contexts) == {"training", "validation", "test"}
    for dataset in contexts.values():
        assert dataset.digest.startswith(data_md5[:8])
        assert json.loads(dataset.source)["uri"].endswith("data/digits.xlsx")


def test_the_champion_model_carries_the_accuracies_of_the_pipeline(served):
    root, client, run_id, champion = served
    metrics = json.loads((root / "artifacts" / "eval" / "metrics.json").read_text())
    # the version's source is the logged model's URI, models:/<model id>
    model = client.get_logged_model(champion.source.removeprefix("models:/"))
    on_model = {metric.key: metric.value for metric in model.metrics}
    assert model.source_run_id == run_id
    assert on_model["val_accuracy"] == pytest.approx(metrics["val_accuracy"])
    assert on_model["test_accuracy"] == pytest.approx(metrics["test_accuracy"])
