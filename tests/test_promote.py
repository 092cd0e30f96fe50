"""digitnet promote: the best run of the latest sweep registered, with the alias `champion` on it.

One real sweep of three jobs (experiment=tiny, each job's model registered as `digits` when
trained) feeds the tests that read a sweep; each of them registers under a name of its own, so
that none depends on another. The error cases build the store they need, without training.
"""

import json
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from digitnet import __main__ as digitnet_command
from digitnet import predict, promote
from digitnet.network import load
from support import make_checkout, sh, tiny_digits

pytestmark = pytest.mark.slow  # a real sweep in a subprocess


def sweep(checkout, *overrides):
    """A real multirun sweep of experiment=tiny in `checkout`, into its ./mlflow.db."""
    command = ["python", "-m", "digitnet.train", "-m", "experiment=tiny", "hydra.sweep.dir=sweep"]
    return sh([*command, *overrides], checkout)


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """A checkout after a sweep over three learning rates whose validation accuracies differ,
    the best one neither the first job nor the last."""
    checkout = make_checkout(tmp_path_factory.mktemp("swept"))
    sweep(checkout, "train.lr=0.5,1.0,0.1", "tracking.register_model=digits")
    return checkout


@pytest.fixture
def store(swept, monkeypatch):
    """(client, parent run, child runs by job number) of the swept checkout, which is the
    working directory, as for a user who runs `digitnet promote` there."""
    monkeypatch.chdir(swept)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("DVC_ROOT", raising=False)
    client = MlflowClient(tracking_uri=uri_of(swept))
    runs = client.search_runs([client.get_experiment_by_name("digitnet").experiment_id])
    (parent,) = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = sorted(
        (r for r in runs if "mlflow.parentRunId" in r.data.tags), key=lambda r: r.data.tags["job"]
    )
    accuracies = [r.data.metrics["val_accuracy"] for r in children]
    assert len(set(accuracies)) == 3 and max(accuracies) == accuracies[1], accuracies
    return client, parent, children


def uri_of(checkout):
    return f"sqlite:///{checkout.resolve() / 'mlflow.db'}"


def run(capsys, *args):
    """`digitnet promote ARGS` in this process; (exit status, stdout, stderr)."""
    try:
        promote.main([str(a) for a in args])
        status = 0
    except SystemExit as exc:
        status = exc.code
    out, err = capsys.readouterr()
    return status, out, err


def best(children, metric="val_accuracy"):
    return max(children, key=lambda r: r.data.metrics[metric])


def line(child, version, name, sweep_id=None, again=False):
    """The line promote prints for `child`."""
    scores = ", ".join(
        f"{m} {child.data.metrics[m]:.4f}" for m in ("val_accuracy", "test_accuracy")
    )
    chosen = f", the best of 3 in sweep {sweep_id}" if sweep_id else ""
    registered = " (already registered)" if again else ""
    return (
        f"promote: {child.info.run_name} (run {child.info.run_id}, {scores}){chosen} → "
        f"{name} version {version}{registered}, alias champion: models:/{name}@champion\n"
    )


def test_the_best_val_accuracy_of_the_latest_sweep_becomes_champion(store, capsys):
    client, parent, children = store
    status, out, err = run(capsys, "--name", "best")
    assert (status, err) == (0, "")
    winner = best(children)
    assert out == line(winner, 1, "best", sweep_id=parent.data.tags["sweep_id"])
    champion = client.get_model_version_by_alias("best", "champion")
    assert (champion.run_id, str(champion.version)) == (winner.info.run_id, "1")
    # the Models tab's "Registered models" column reads the logged model's mlflow.modelVersions
    model = client.get_logged_model(champion.source.removeprefix("models:/"))
    versions = json.loads(model.tags["mlflow.modelVersions"])
    assert {"name": "best", "version": "1"} in [
        {"name": v["name"], "version": str(v["version"])} for v in versions
    ]


def test_promoting_another_run_moves_the_alias_and_keeps_the_old_version(store, capsys):
    client, _, children = store
    worst = min(children, key=lambda r: r.data.metrics["val_accuracy"])
    assert run(capsys, "--name", "moved")[0] == 0
    status, out, _ = run(capsys, "--run", worst.info.run_id, "--name", "moved")
    assert status == 0
    assert out == line(worst, 2, "moved")
    assert client.get_model_version_by_alias("moved", "champion").run_id == worst.info.run_id
    assert client.get_model_version("moved", "1").run_id == best(children).info.run_id


def test_promoting_the_same_run_again_adds_no_version(store, capsys):
    client, parent, children = store
    run(capsys, "--name", "again")
    status, out, _ = run(capsys, "--name", "again")
    assert status == 0
    assert out == line(best(children), 1, "again", parent.data.tags["sweep_id"], again=True)
    assert len(client.search_model_versions("name = 'again'")) == 1


def test_a_run_registered_when_trained_keeps_its_version(store, capsys):
    client, parent, children = store
    winner = best(children)
    query = f"name = 'digits' AND run_id = '{winner.info.run_id}'"
    (trained,) = client.search_model_versions(query)
    status, out, _ = run(capsys)
    assert status == 0
    assert out == line(winner, trained.version, "digits", parent.data.tags["sweep_id"], again=True)
    assert len(client.search_model_versions("name = 'digits'")) == 3
    champion = client.get_model_version_by_alias("digits", "champion")
    assert str(champion.version) == str(trained.version)


def test_another_metric_ranks_highest_first_or_with_lowest_lowest_first(store, capsys):
    client, _, children = store
    run(capsys, "--metric", "final_cost", "--name", "costliest")
    run(capsys, "--metric", "final_cost", "--lowest", "--name", "cheapest")
    costs = {r.info.run_id: r.data.metrics["final_cost"] for r in children}
    assert len(set(costs.values())) == 3
    costliest = client.get_model_version_by_alias("costliest", "champion").run_id
    cheapest = client.get_model_version_by_alias("cheapest", "champion").run_id
    assert (costliest, cheapest) == (max(costs, key=costs.get), min(costs, key=costs.get))


def test_the_champion_predicts_into_predictions_not_data(store, capsys):
    """From a sweep to predictions in two commands; the workbook's directory is left alone."""
    _, _, children = store
    assert run(capsys)[0] == 0
    predict.main(["models:/digits@champion", "data/digits.xlsx"])
    out = capsys.readouterr().out
    assert out.startswith(
        "predict: data/digits.xlsx (80 examples) with models:/digits@champion → "
        "predictions/digits.predictions.csv, predictions/digits.predictions.xlsx"
    )
    rows = np.loadtxt("predictions/digits.predictions.csv", delimiter=",", skiprows=1)
    job = best(children).data.tags["job"]
    X, _ = tiny_digits()
    network = load(f"sweep/{job}/model/weights.npz")
    assert rows[:, 1].astype(int).tolist() == network.predict(X).tolist()
    assert [path.name for path in Path("data").iterdir()] == ["digits.xlsx"]


def test_help_explains_with_examples(capsys):
    with pytest.raises(SystemExit) as exited:
        digitnet_command.main(["promote", "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: digitnet promote [-h] [--run ID | --metric METRIC]")
    assert "examples:\n  digitnet promote " in out
    assert "digitnet predict models:/digits@champion data/digits.xlsx" in out


# ---------------------------------------------------------------- errors: one line, exit 2


def test_without_a_store_promote_says_so_and_creates_none(workspace, capsys):
    status, out, err = run(capsys)
    store = workspace.resolve() / "mlflow.db"
    assert (status, out) == (2, "")
    assert err == (
        f"error: no MLflow store at {store}; run a sweep first (digitnet train -m ...)\n"
    )
    assert not store.exists()


def new_store(checkout):
    """A client of a new store in `checkout` and the id of its experiment `digitnet`."""
    client = MlflowClient(tracking_uri=uri_of(checkout))
    return client, client.create_experiment("digitnet")


def test_a_store_without_a_sweep_is_an_error(workspace, capsys):
    client, experiment = new_store(workspace)
    client.create_run(experiment, run_name="a single run")  # no sweep_id: not a sweep
    status, _, err = run(capsys)
    assert status == 2
    assert err == (
        f"error: no sweep in experiment 'digitnet' at {uri_of(workspace)}; run one "
        "(digitnet train -m ...) or name a run with --run ID\n"
    )


def test_a_sweep_without_a_finished_run_with_the_metric_is_an_error(workspace, capsys):
    client, experiment = new_store(workspace)
    parent = client.create_run(experiment, tags={"sweep_id": "s/1"}).info.run_id
    nested = {"mlflow.parentRunId": parent, "sweep_id": "s/1"}
    failed = client.create_run(experiment, tags=nested).info.run_id
    client.log_metric(failed, "val_accuracy", 0.9)
    client.set_terminated(failed, "FAILED")
    unscored = client.create_run(experiment, tags=nested).info.run_id
    client.set_terminated(unscored, "FINISHED")
    status, _, err = run(capsys)
    assert status == 2
    assert err == (
        f"error: sweep s/1 (run {parent}) has no FINISHED run with metric val_accuracy; "
        "wait for it to finish, or name a run with --run ID\n"
    )


def test_the_newest_sweep_is_the_one_ranked(workspace):
    client, experiment = new_store(workspace)
    now = int(time.time() * 1000)
    for sweep_id, started, accuracy in (("new", now, 0.5), ("old", now - 60_000, 0.9)):
        parent = client.create_run(experiment, start_time=started, tags={"sweep_id": sweep_id})
        nested = {"mlflow.parentRunId": parent.info.run_id, "sweep_id": sweep_id}
        child = client.create_run(experiment, start_time=started + 1, tags=nested).info.run_id
        client.log_metric(child, "val_accuracy", accuracy)
        client.set_terminated(child, "FINISHED")
    chosen, sweep_id, candidates = promote.best_run(client, uri_of(workspace), "digitnet")
    assert (chosen.data.tags["sweep_id"], sweep_id, candidates) == ("new", "new", 1)


def test_an_unknown_run_id_is_an_error(swept, store, capsys):
    status, _, err = run(capsys, "--run", "0123abc")
    assert status == 2
    assert err == f"error: no run 0123abc in {uri_of(swept)}\n"


def test_the_sweeps_parent_run_has_no_model_to_promote(store, capsys):
    _, parent, _ = store
    status, _, err = run(capsys, "--run", parent.info.run_id)
    assert status == 2
    assert err == (
        f"error: run {parent.info.run_id} is the parent run of sweep "
        f"{parent.data.tags['sweep_id']}, which logs no model; name one of its runs, or leave "
        "out --run to promote its best\n"
    )


def test_a_sweep_that_logged_no_model_is_an_error(workspace, capsys):
    sweep(workspace, "train.lr=1.0", "tracking.log_model=false")
    status, out, err = run(capsys)
    client = MlflowClient(tracking_uri=uri_of(workspace))
    (child,) = client.search_runs(
        [client.get_experiment_by_name("digitnet").experiment_id],
        "tags.`mlflow.parentRunId` IS NOT NULL",
    )
    assert (status, out) == (2, "")
    assert err == (
        f"error: run {child.info.run_id} ({child.info.run_name}) logged no model: it was "
        "trained with tracking.log_model=false; promote another run, or train again with the "
        "default\n"
    )
    assert re.fullmatch(r"[0-9a-f]{32}", child.info.run_id)
    assert client.search_registered_models() == []


def test_a_name_or_alias_that_mlflow_refuses_is_one_error_line(store, capsys):
    client, _, _ = store
    status, out, err = run(capsys, "--name", "refused", "--alias", "v2")  # MLflow's own syntax
    assert (status, out) == (2, "")
    assert err.startswith("error: MLflow refused: ") and err.count("\n") == 1
    assert "v2" in err
    assert client.get_registered_model("refused").aliases == {}


def test_a_model_whose_files_are_gone_is_refused_and_the_champion_stays(
    tmp_path, monkeypatch, capsys
):
    checkout = make_checkout(tmp_path)
    sweep(checkout, "train.lr=0.5,1.0")
    monkeypatch.chdir(checkout)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("DVC_ROOT", raising=False)
    assert run(capsys, "--name", "kept")[0] == 0
    client = MlflowClient(tracking_uri=uri_of(checkout))
    champion = client.get_model_version_by_alias("kept", "champion")
    shutil.rmtree(checkout / "mlruns")  # mlflow.db kept: the runs are there, their files gone
    (other,) = [
        r
        for r in client.search_runs([client.get_experiment_by_name("digitnet").experiment_id])
        if "mlflow.parentRunId" in r.data.tags and r.info.run_id != champion.run_id
    ]
    status, out, err = run(capsys, "--run", other.info.run_id, "--name", "kept")
    (model,) = client.search_logged_models(
        [other.info.experiment_id], filter_string=f"source_run_id = '{other.info.run_id}'"
    )
    assert (status, out) == (2, "")
    assert err == (
        f"error: run {other.info.run_id} ({other.info.run_name}): its model "
        f"models:/{model.model_id} does not load from {model.artifact_location} "
        "(No such artifact: ''); alias champion left as it was\n"
    )
    assert client.get_model_version_by_alias("kept", "champion").version == champion.version
    assert len(client.search_model_versions("name = 'kept'")) == 1
