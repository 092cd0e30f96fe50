"""The DVC pipeline end to end: the real `dvc` on a tiny workbook in a temporary project."""

import json
import re
import shutil

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from digitnet.artifacts import load_npz
from digitnet.workbook import write_workbook
from support import TINY_EPOCHS, make_project, set_yaml_key, sh, tiny_digits

pytestmark = pytest.mark.slow

STAGES = ["ingest", "preprocess", "train", "evaluate"]


def stages_run(output):
    return re.findall(r"Running stage '([a-z]+)'", output)


@pytest.fixture(scope="module")
def reproduced(tmp_path_factory):
    """A project after its first `dvc repro`, and what that repro printed."""
    root = tmp_path_factory.mktemp("project")
    workbook = tmp_path_factory.mktemp("workbook") / "tiny.xlsx"
    write_workbook(workbook, *tiny_digits())
    make_project(root, workbook)
    result = sh(["dvc", "repro"], root)
    sh(["git", "add", "-A"], root)
    sh(["git", "commit", "-q", "-m", "first repro"], root)
    return root, result.stdout


@pytest.fixture
def project(reproduced, tmp_path):
    """A private copy of the reproduced project, free to change."""
    root = tmp_path / "copy"
    shutil.copytree(reproduced[0], root, symlinks=True)
    return root


def test_repro_runs_the_four_stages_in_order(reproduced):
    assert stages_run(reproduced[1]) == STAGES


def test_repro_writes_every_stage_output(reproduced):
    root = reproduced[0]
    for path in [
        "artifacts/ingested.npz",
        "artifacts/processed/train.npz",
        "artifacts/processed/test.npz",
        "artifacts/model/weights.npz",
        "artifacts/model/cost.csv",
        "artifacts/eval/metrics.json",
        "artifacts/eval/confusion.csv",
        "artifacts/eval/cost.png",
        "artifacts/eval/confusion.png",
        "dvc.lock",
    ]:
        assert (root / path).is_file(), path
    costs = np.loadtxt(root / "artifacts/model/cost.csv", delimiter=",", skiprows=1)
    assert costs.shape == (TINY_EPOCHS, 2)
    assert costs[-1, 1] < costs[0, 1]


def test_second_repro_runs_nothing(project):
    result = sh(["dvc", "repro"], project)
    assert stages_run(result.stdout) == []
    assert "up to date" in result.stdout


def test_changing_the_learning_rate_reruns_train_and_evaluate_only(project):
    set_yaml_key(project / "conf/train/gd.yaml", "lr", 0.3)
    status = sh(["dvc", "status", "--json"], project)
    assert set(json.loads(status.stdout)) == {"train"}
    result = sh(["dvc", "repro"], project)
    assert stages_run(result.stdout) == ["train", "evaluate"]


def test_replacing_the_workbook_reruns_every_stage(project):
    X, y = tiny_digits(seed=1)
    write_workbook(project / "data/digits.xlsx", X, y)
    sh(["dvc", "add", "-q", "data"], project)
    result = sh(["dvc", "repro"], project)
    assert stages_run(result.stdout) == STAGES


def test_metrics_show_lists_the_accuracies(project):
    shown = json.loads(sh(["dvc", "metrics", "show", "--json"], project).stdout)
    metrics = shown[""]["data"]["artifacts/eval/metrics.json"]["data"]
    assert set(metrics) == {
        "train_accuracy",
        "val_accuracy",
        "test_accuracy",
        "final_cost",
        "mlflow_run_id",  # the MLflow run that trained and scored the model
    }
    assert re.fullmatch(r"[0-9a-f]{32}", metrics["mlflow_run_id"])
    written = json.loads((project / "artifacts/eval/metrics.json").read_text())
    assert metrics["test_accuracy"] == written["test_accuracy"]
    assert 0.5 < written["train_accuracy"] <= 1.0


def test_params_diff_shows_a_changed_key(project):
    set_yaml_key(project / "conf/model/mlp.yaml", "hidden_sizes", "[7]")
    diff = json.loads(sh(["dvc", "params", "diff", "--json"], project).stdout)
    assert diff == {"conf/model/mlp.yaml": {"hidden_sizes": {"old": "[25]", "new": "[7]"}}}


def test_exp_run_with_a_set_param_runs_an_experiment(project):
    result = sh(["dvc", "exp", "run", "-S", "conf/train/gd.yaml:lr=0.2"], project)
    assert stages_run(result.stdout) == ["train", "evaluate"]
    shown = json.loads(sh(["dvc", "exp", "show", "--json"], project).stdout)
    experiments = [exp for rev in shown for exp in (rev.get("experiments") or [])]
    lrs = [
        run["revs"][0]["data"]["params"]["conf/train/gd.yaml"]["data"]["lr"] for run in experiments
    ]
    assert 0.2 in lrs
    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    (run,) = client.search_runs(
        [client.get_experiment_by_name("digitnet").experiment_id], "params.`train.lr` = '0.2'"
    )
    baseline = sh(["git", "rev-parse", "HEAD"], project).stdout.strip()
    assert run.data.tags["dvc.exp_baseline_rev"] == baseline
    assert run.data.tags["dvc.exp_name"] in {exp["name"] for exp in experiments}


def test_the_run_is_recorded_in_mlflow(reproduced):
    root = reproduced[0]
    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("digitnet")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED"
    assert run.data.params["train.epochs"] == str(TINY_EPOCHS)
    assert run.data.params["model.hidden_sizes"] == "[25]"
    assert run.data.tags["data_md5"] == load_npz(root / "artifacts/ingested.npz")["source_md5"]
    assert re.fullmatch(r"[0-9a-f]{40}", run.data.tags["mlflow.source.git.commit"])
    assert run.data.tags["mlflow.source.name"] == "digitnet stage train"
    assert run.data.tags["mlflow.source.type"] == "LOCAL"
    assert run.data.tags["mlflow.user"] == run.info.user_id != "unknown"
    assert not {"git_commit", "dvc.exp_name"} & set(run.data.tags)  # not a DVC experiment
    history = client.get_metric_history(run.info.run_id, "cost")
    assert [m.step for m in history] == list(range(1, TINY_EPOCHS + 1))
    costs = np.loadtxt(root / "artifacts/model/cost.csv", delimiter=",", skiprows=1)[:, 1]
    assert [m.value for m in history] == pytest.approx(costs)
    written = json.loads((root / "artifacts/eval/metrics.json").read_text())
    assert written["mlflow_run_id"] == run.info.run_id
    for key in ("train_accuracy", "val_accuracy", "test_accuracy"):
        assert run.data.metrics[key] == pytest.approx(written[key])
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "evaluation")}
    assert artifacts == {
        "evaluation/cost.png",
        "evaluation/confusion.png",
        "evaluation/misclassified.png",
        "evaluation/hidden_weights.png",
        "evaluation/metrics.json",
        "evaluation/per_class.json",
    }


def test_forced_retraining_gives_bit_identical_weights(project):
    before = load_npz(project / "artifacts/model/weights.npz")
    sh(["dvc", "repro", "-f", "-s", "train"], project)
    after = load_npz(project / "artifacts/model/weights.npz")
    assert before.keys() == after.keys()
    assert all(np.array_equal(before[k], after[k]) for k in before)


def test_queued_experiments_log_to_the_projects_own_store(project):
    sh(["dvc", "exp", "run", "--queue", "-S", "conf/train/gd.yaml:lr=0.2,0.4"], project)
    sh(["dvc", "exp", "run", "--run-all"], project)
    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("digitnet").experiment_id])
    # the project is a copy: the first repro's run stays with the store it was copied from
    assert sorted(r.data.params["train.lr"] for r in runs) == ["0.2", "0.4"]
    assert all(r.info.status == "FINISHED" for r in runs)
    assert all("test_accuracy" in r.data.metrics for r in runs)
    assert all(r.info.artifact_uri.startswith((project / "mlruns").as_uri()) for r in runs)


FIGURES = ["cost", "confusion", "misclassified", "hidden_weights"]


def test_plots_show_the_two_charts_and_the_four_figures(project):
    shown = json.loads(sh(["dvc", "plots", "show", "--json"], project).stdout)["data"]
    figures = {f"artifacts/eval/{name}.png" for name in FIGURES}
    assert set(shown) == {"cost", "artifacts/eval/confusion.csv"} | figures
    assert all("errors" not in plot for plots in shown.values() for plot in plots)
    assert {name for name, plots in shown.items() if plots[0]["type"] == "image"} == figures
    assert (project / "dvc_plots").is_dir()
    assert sh(["git", "status", "--porcelain"], project).stdout == ""


@pytest.fixture(scope="module")
def preset_experiment(reproduced, tmp_path_factory):
    """A copy of the reproduced project after `dvc exp run -S experiment=tutorial -n tut`, and
    what that run printed."""
    root = tmp_path_factory.mktemp("experiment") / "project"
    shutil.copytree(reproduced[0], root, symlinks=True)
    result = sh(["dvc", "exp", "run", "-S", "experiment=tutorial", "-n", "tut"], root)
    return root, result.stdout


def experiments_shown(root):
    """{name: params.yaml's experiment} for each experiment `dvc exp show` lists."""
    shown = json.loads(sh(["dvc", "exp", "show", "--json"], root).stdout)
    return {
        exp["name"]: exp["revs"][0]["data"]["params"]["params.yaml"]["data"]["experiment"]
        for rev in shown
        for exp in rev.get("experiments") or []
    }


def test_exp_run_with_a_preset_runs_it_past_ingest(preset_experiment):
    root, output = preset_experiment
    assert stages_run(output) == ["preprocess", "train", "evaluate"]
    assert "digitnet stage train experiment=tutorial" in output
    assert experiments_shown(root) == {"tut": "tutorial"}
    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    runs = client.search_runs(
        [client.get_experiment_by_name("digitnet").experiment_id], order_by=["start_time DESC"]
    )
    assert (runs[0].data.params["train.epochs"], runs[0].data.params["train.lr"]) == ("20", "0.003")
    assert "test_accuracy" in json.loads((root / "artifacts/eval/metrics.json").read_text())


def test_plots_diff_shows_each_figure_of_the_commit_and_of_the_experiment(preset_experiment):
    root = preset_experiment[0]
    shown = json.loads(sh(["dvc", "plots", "diff", "--json"], root).stdout)["data"]
    for name in FIGURES:
        revisions = [plot["revisions"] for plot in shown[f"artifacts/eval/{name}.png"]]
        assert revisions == [["workspace"], ["HEAD"]], name
    assert [plot["revisions"] for plot in shown["cost"]] == [["workspace", "HEAD"]]


def test_after_an_experiment_repro_keeps_its_results_until_git_and_dvc_checkout(
    preset_experiment, tmp_path
):
    root = tmp_path / "copy"
    shutil.copytree(preset_experiment[0], root, symlinks=True)
    assert stages_run(sh(["dvc", "repro"], root).stdout) == []
    assert "experiment: tutorial" in (root / "params.yaml").read_text()
    sh(["git", "checkout", "--", "."], root)
    sh(["dvc", "checkout"], root)
    assert sh(["git", "status", "--porcelain"], root).stdout == ""
    assert stages_run(sh(["dvc", "repro"], root).stdout) == []
    costs = np.loadtxt(root / "artifacts/model/cost.csv", delimiter=",", skiprows=1)
    assert costs.shape == (TINY_EPOCHS, 2)
