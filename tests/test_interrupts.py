"""Ctrl-C and SIGTERM during training: the run ends KILLED, nothing half-written is left."""

import signal
import subprocess
import sys
import time

import pytest
from mlflow.tracking import MlflowClient

from digitnet import tracking
from support import sh, tool_env

pytestmark = pytest.mark.slow

TINY = ["data.val_fraction=0.25", "data.test_fraction=0.25", "train.batch_size=1"]


def running_run(store, exclude=()):
    """The id of a RUNNING run in the store other than `exclude`, once there is one."""
    client = tracking.client(f"sqlite:///{store}")  # waits while the store is being created
    experiment = client.get_experiment_by_name("digitnet")
    if experiment is None:
        return None
    runs = client.search_runs([experiment.experiment_id], "attributes.status = 'RUNNING'")
    ids = [run.info.run_id for run in runs if run.info.run_id not in exclude]
    return ids[0] if ids else None


@pytest.mark.parametrize(
    ("signum", "name", "status"),
    [
        (signal.SIGTERM, "SIGTERM", 143),
        (signal.SIGINT, "Ctrl-C", 130),
    ],
)
def test_an_interrupted_training_ends_killed_and_writes_no_model(checkout, signum, name, status):
    sh(["python", "-m", "digitnet.stages.ingest"], checkout)
    sh(["python", "-m", "digitnet.stages.preprocess", *TINY], checkout)
    process = subprocess.Popen(
        [sys.executable, "-m", "digitnet.stages.train", *TINY, "train.epochs=1000000"],
        cwd=checkout,
        env=tool_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while (run_id := running_run(checkout / "mlflow.db")) is None:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.2)
    time.sleep(0.5)  # well into the epochs
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == status
    assert stderr.strip() == (
        f"error: interrupted by {name}; no output was half-written, and the MLflow run, "
        "if one was open, is marked KILLED"
    )
    client = MlflowClient(tracking_uri=f"sqlite:///{checkout / 'mlflow.db'}")
    assert client.get_run(run_id).info.status == "KILLED"
    assert not (checkout / "artifacts/model").exists()
    assert not list((checkout / "artifacts").glob(".model.*"))
    sh(["python", "-m", "digitnet.stages.train", *TINY, "train.epochs=3"], checkout)
    assert (checkout / "artifacts/model/weights.npz").is_file()


def start_training(checkout, *extra, exclude=()):
    """A long training in the background, returned once its MLflow run is RUNNING."""
    process = subprocess.Popen(
        [sys.executable, "-m", "digitnet.stages.train", *TINY, "train.epochs=1000000", *extra],
        cwd=checkout,
        env=tool_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while (run_id := running_run(checkout / "mlflow.db", exclude)) is None:
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.2)
    return process, run_id


def run_of_a_killed_process(checkout):
    """Prepare the arrays, start a training, kill -9 it; the id of the run it left RUNNING."""
    sh(["python", "-m", "digitnet.stages.ingest"], checkout)
    sh(["python", "-m", "digitnet.stages.preprocess", *TINY], checkout)
    killed, run_id = start_training(checkout)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    return run_id


def test_runs_left_running_by_a_killed_process_are_marked_killed(checkout):
    dead_run = run_of_a_killed_process(checkout)
    alive, live_run = start_training(checkout, "paths.model=artifacts/other", exclude={dead_run})
    try:
        result = sh(["python", "-m", "digitnet.stale"], checkout)
        client = MlflowClient(tracking_uri=f"sqlite:///{checkout / 'mlflow.db'}")
        assert client.get_run(dead_run).info.status == "KILLED"
        assert client.get_run(live_run).info.status == "RUNNING"
        assert result.stdout.strip() == (
            f"stale: marked 1 RUNNING run(s) of experiment 'digitnet' KILLED: {dead_run}"
        )
    finally:
        alive.send_signal(signal.SIGTERM)
        alive.wait(timeout=60)


def test_a_sweep_first_marks_its_experiments_stale_runs_killed(checkout):
    dead_run = run_of_a_killed_process(checkout)
    result = sh(
        ["python", "-m", "digitnet.train", "-m", *TINY, "train.epochs=2", "hydra.sweep.dir=sweep"],
        checkout,
    )
    assert "sweep: marked 1 RUNNING run(s) left by dead processes KILLED" in result.stdout
    client = MlflowClient(tracking_uri=f"sqlite:///{checkout / 'mlflow.db'}")
    assert client.get_run(dead_run).info.status == "KILLED"
