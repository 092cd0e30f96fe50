"""Hydra multirun sweeps, for real: subprocess sweeps on a tiny workbook, one MLflow store."""

import csv
import hashlib
import itertools
import json
import re
import urllib.parse
import urllib.request

import pytest
from mlflow.tracking import MlflowClient

from digitnet.artifacts import load_npz
from digitnet.workbook import write_workbook
from support import TINY_EPOCHS, make_checkout, sh, started_together, tiny_digits
from support import mlflow_server as running_mlflow_server

pytestmark = pytest.mark.slow


def sweep(checkout, *overrides, check=True):
    return sh(
        [
            "python",
            "-m",
            "digitnet.train",
            "-m",
            "experiment=tiny",
            *overrides,
            "hydra.sweep.dir=sweep",
        ],
        checkout,
        check=check,
    )


def store(checkout):
    client = MlflowClient(tracking_uri=f"sqlite:///{checkout / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("digitnet")
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    return client, parents, children


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    """(checkout, output) of one 2 x 2 sweep over hidden sizes and learning rates on a new
    checkout; the tests only read it."""
    checkout = make_checkout(tmp_path_factory.mktemp("checkout"))
    return checkout, sweep(checkout, "model.hidden_sizes=[5],[10]", "train.lr=0.5,1.0").stdout


def test_a_grid_gives_one_parent_run_and_a_child_run_per_job(grid):
    checkout, output = grid
    client, parents, children = store(checkout)
    (parent,) = parents
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["sweep_id"] == f"{checkout.name}/sweep"
    assert parent.data.tags["mlflow.source.name"] == "digitnet.train"
    assert parent.data.tags["mlflow.source.type"] == "LOCAL"
    assert re.fullmatch(r"[0-9a-f]{40}|unknown", parent.data.tags["mlflow.source.git.commit"])
    assert len(children) == 4
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parent.info.run_id}
    assert sorted(c.data.tags["job"] for c in children) == ["0", "1", "2", "3"]
    assert {c.data.tags["sweep_id"] for c in children} == {parent.data.tags["sweep_id"]}
    assert {c.info.run_name for c in children} == {
        f"tiny hidden={h}" + (" lr=1.0" if lr == "1.0" else "")  # 0.5 is tiny's own lr
        for h in ("[5]", "[10]")
        for lr in ("0.5", "1.0")
    }
    assert parent.info.run_name == f"sweep {checkout.name}/sweep"
    for run in (parent, *children):  # every row of the sweep names its data in the UI
        contexts = {
            {tag.key: tag.value for tag in item.tags}["mlflow.data.context"]
            for item in run.inputs.dataset_inputs
        }
        assert contexts == {"training", "validation", "test"}, run.info.run_name
    for child in children:
        assert child.info.status == "FINISHED"
        assert len(client.get_metric_history(child.info.run_id, "cost")) == TINY_EPOCHS
        assert {"val_accuracy", "test_accuracy", "train_accuracy"} <= set(child.data.metrics)
        assert child.data.tags["data_md5"] and "git_commit" not in child.data.tags
        for tag in ("mlflow.user", "mlflow.source.type", "mlflow.source.git.commit"):
            assert child.data.tags[tag] == parent.data.tags[tag]
        assert child.data.tags["mlflow.source.name"] == "digitnet.train"
    assert parent.data.metrics["jobs"] == 4
    assert parent.data.metrics["best_val_accuracy"] == max(
        c.data.metrics["val_accuracy"] for c in children
    )
    summary = {a.path for a in client.list_artifacts(parent.info.run_id, "summary")}
    assert summary == {"summary/summary.csv", "summary/cost_curves.png", "summary/heatmap.png"}
    assert "all 4 jobs finished" in output


def test_a_sweep_over_model_mlp_cnn_gives_both_under_one_parent_run(tmp_path):
    checkout = make_checkout(tmp_path, side=8)  # 8x8 digits: room for 5x5 kernels and pooling
    sweep(checkout, "model=mlp,cnn")
    _, parents, children = store(checkout)
    (parent,) = parents
    assert {child.data.tags["mlflow.parentRunId"] for child in children} == {parent.info.run_id}
    by_model = {child.data.params["model.name"]: child for child in children}
    assert sorted(by_model) == ["cnn", "mlp"]
    assert by_model["cnn"].info.run_name == "tiny model=cnn"
    assert by_model["cnn"].data.params["model.filters"] == "[32]"
    assert by_model["mlp"].data.params["model.filters"] == "[]"
    assert all(child.info.status == "FINISHED" for child in children)
    assert all(child.data.metrics["test_accuracy"] > 0.1 for child in children)  # chance: 0.1


def test_the_summary_ranks_jobs_best_first_by_validation_accuracy(grid):
    checkout, _ = grid
    with open(checkout / "sweep/summary.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4
    accuracies = [float(r["val_accuracy"]) for r in rows]
    assert accuracies == sorted(accuracies, reverse=True)
    assert len(set(accuracies)) > 1  # jobs that all tie would be in any order
    assert {"model.hidden_sizes", "train.lr", "test_accuracy", "final_cost", "seconds"} <= set(
        rows[0]
    )
    for name in ("cost_curves.png", "heatmap.png"):
        assert (checkout / "sweep" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_diverging_job_is_recorded_failed_and_the_others_still_run(checkout):
    result = sweep(checkout, "train.lr=0.5,1e308,1.0", check=False)
    assert result.returncode == 1, result.stderr
    client, (parent,), children = store(checkout)
    statuses = sorted((c.data.tags["job"], c.info.status) for c in children)
    assert statuses == [("0", "FINISHED"), ("1", "FAILED"), ("2", "FINISHED")]
    record = json.loads((checkout / "sweep/1/job.json").read_text())
    assert record["status"] == "FAILED"
    assert record["error"].startswith("training diverged: the cost became")
    assert "2 of 3 jobs finished; job 1 (train.lr=1e+308)" in result.stdout
    assert not (checkout / "sweep/1/model").exists()
    assert parent.data.metrics["failed_jobs"] == 1


def test_a_sweep_reads_the_workbook_once_before_its_first_job(grid):
    _, output = grid
    assert output.count("ingest:") == 1
    assert output.index("ingest:") < output.index("writing to") < output.index("train:")


def test_the_grid_preset_sweeps_three_axes_into_18_jobs(checkout):
    result = sh(
        [
            "python",
            "-m",
            "digitnet.train",
            "sweep=grid",
            "experiment=tiny",  # the grid's epochs win over the preset's
            "hydra.sweep.dir=sweep",
            "tracking.enabled=false",
        ],
        checkout,
    )
    records = [json.loads(p.read_text()) for p in (checkout / "sweep").glob("*/job.json")]
    swept = {
        tuple(r["overrides"][key] for key in ("model.hidden_sizes", "train.lr", "train.epochs"))
        for r in records
    }
    assert len(records) == 18
    assert swept == set(
        itertools.product(("[10]", "[25]", "[50]"), ("0.1", "0.5", "1.0"), ("50", "200"))
    )
    assert "all 18 jobs finished" in result.stdout


def rest(base, endpoint, body=None, **query):
    url = f"{base}/api/2.0/mlflow/{endpoint}"
    if query:
        url += "?" + urllib.parse.urlencode(query)
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def test_the_mlflow_server_serves_the_sweep_over_rest(grid):
    checkout, _ = grid
    with running_mlflow_server(checkout, f"sqlite:///{checkout / 'mlflow.db'}") as base:
        experiment = rest(base, "experiments/get-by-name", experiment_name="digitnet")
        search = {"experiment_ids": [experiment["experiment"]["experiment_id"]]}
        runs = rest(base, "runs/search", search)["runs"]
        tags = [{t["key"]: t["value"] for t in run["data"].get("tags", [])} for run in runs]
        histories = [
            rest(base, "metrics/get-history", run_id=run["info"]["run_id"], metric_key="cost")
            for run, t in zip(runs, tags, strict=True)
            if "mlflow.parentRunId" in t
        ]
    parents = [run for run, t in zip(runs, tags, strict=True) if "mlflow.parentRunId" not in t]
    children = [run for run, t in zip(runs, tags, strict=True) if "mlflow.parentRunId" in t]
    assert len(parents) == 1 and len(children) == 4
    parent_id = parents[0]["info"]["run_id"]
    for child, history in zip(children, histories, strict=True):
        child_tags = {t["key"]: t["value"] for t in child["data"]["tags"]}
        assert child_tags["mlflow.parentRunId"] == parent_id
        metrics = {m["key"]: m["value"] for m in child["data"]["metrics"]}
        assert {"train_accuracy", "val_accuracy", "test_accuracy"} <= set(metrics)
        steps = sorted(m["step"] for m in history["metrics"])
        assert steps == list(range(1, TINY_EPOCHS + 1))


def test_optuna_search_maximises_validation_accuracy(checkout):
    result = sweep(
        checkout,
        "hparams_search=optuna",
        "hydra.sweeper.n_trials=3",
        "train.batch_size=null",  # one step per epoch: trials that differ in accuracy
        "tracking.enabled=false",
    )
    records = [json.loads(p.read_text()) for p in (checkout / "sweep").glob("*/job.json")]
    assert len(records) == 3
    assert len({r["val_accuracy"] for r in records}) > 1  # with a tie, any trial is the best
    best = max(r["val_accuracy"] for r in records)
    assert f"Best value: {best}" in result.stdout + result.stderr
    assert {"model.hidden_sizes", "train.lr"} <= set(records[0]["overrides"])


def test_sixteen_jobs_over_two_workers_on_a_new_store_all_arrive(checkout):
    assert not (checkout / "mlflow.db").exists()
    sweep(
        checkout,
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "model.hidden_sizes=[3],[4],[5],[6]",
        "train.lr=0.2,0.4,0.6,0.8",
        "tracking.experiment=many",
    )
    client = MlflowClient(tracking_uri=f"sqlite:///{checkout / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("many")
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(children) == 16
    assert all(r.info.status == "FINISHED" for r in runs)
    for child in children:
        assert len(client.get_metric_history(child.info.run_id, "cost")) == TINY_EPOCHS


def test_two_sweeps_started_together_on_a_new_store_both_complete(prepared):
    ended = started_together(
        prepared,
        *[
            ["-m", "experiment=tiny", "train.lr=0.3,0.6", f"hydra.sweep.dir=sweep{i}"]
            for i in range(2)
        ],
    )
    assert [status for status, *_ in ended] == [0, 0], ended
    _, parents, children = store(prepared)
    assert len(parents) == 2 and len(children) == 4
    assert all(r.info.status == "FINISHED" for r in parents + children)


def test_two_sweeps_started_in_the_same_second_never_share_a_directory(prepared):
    """Both sweeps get the same folder name, as two started in one second do: each creates its
    own, and each ends with its own parent run and both jobs FINISHED."""
    same = "hydra.sweep.dir=${digitnet.new_dir:multirun/same-second}"
    words = ["-m", "experiment=tiny", "train.lr=0.3,0.6", same]
    ended = started_together(prepared, words, words)
    assert [status for status, *_ in ended] == [0, 0], ended
    folders = sorted((prepared / "multirun").iterdir())
    assert [f.name for f in folders] == ["same-second", "same-second_2"]
    _, parents, children = store(prepared)
    assert sorted(p.data.tags["sweep_id"] for p in parents) == [
        "multirun/same-second",
        "multirun/same-second_2",
    ]
    assert len(children) == 4
    assert all(r.info.status == "FINISHED" for r in parents + children)
    for folder in folders:
        records = [json.loads(p.read_text()) for p in folder.glob("*/job.json")]
        assert sorted(r["status"] for r in records) == ["FINISHED", "FINISHED"]


def test_a_sweep_over_two_workbooks_trains_each_job_on_its_own(checkout):
    X, y = tiny_digits(side=8)  # 64 pixels a row, where data/digits.xlsx has 16
    write_workbook(checkout / "data/other.xlsx", X, y)
    sweep(checkout, "data.workbook=data/digits.xlsx,data/other.xlsx")
    _, _, children = store(checkout)
    by_workbook = {c.data.params["data.workbook"]: c for c in children}
    for workbook in ["data/digits.xlsx", "data/other.xlsx"]:
        data_md5 = hashlib.md5((checkout / workbook).read_bytes()).hexdigest()
        run = by_workbook[workbook]
        assert run.data.tags["data_md5"] == data_md5
        (dataset,) = {i.dataset.digest for i in run.inputs.dataset_inputs}
        assert dataset.startswith(data_md5[:8])
    job = {c.data.params["data.workbook"]: c.data.tags["job"] for c in children}
    weights = load_npz(checkout / f"sweep/{job['data/other.xlsx']}/model/weights.npz")
    assert weights["W0"].shape[0] == 64
