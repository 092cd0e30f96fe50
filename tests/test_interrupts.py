"""Ctrl-C and SIGTERM during training: the run ends KILLED, nothing half-written is left."""

import signal
import subprocess
import sys
import time
from contextlib import contextmanager

import pytest
from mlflow.tracking import MlflowClient

from digitnet import stale, tracking
from digitnet.stages import train
from support import as_from_a_terminal, sh, tool_env

pytestmark = pytest.mark.slow

# A training that runs until it is stopped: a million epochs of one-digit steps.
ENDLESS = ["experiment=tiny", "train.batch_size=1", "train.epochs=1000000"]


def running_run(store, exclude=()):
    """The id of a RUNNING run in the store other than `exclude`, once there is one."""
    client = tracking.client(f"sqlite:///{store}")  # waits while the store is being created
    experiment = client.get_experiment_by_name("digitnet")
    if experiment is None:
        return None
    runs = client.search_runs([experiment.experiment_id], "attributes.status = 'RUNNING'")
    ids = [run.info.run_id for run in runs if run.info.run_id not in exclude]
    return ids[0] if ids else None


@contextmanager
def endless_training(checkout, *extra, exclude=()):
    """A training stage in the background, yielded with its run id once that run is RUNNING;
    killed when the block ends if it is still there, so that a failing test leaves no process."""
    process = subprocess.Popen(
        [sys.executable, "-m", "digitnet.stages.train", *ENDLESS, *extra],
        cwd=checkout,
        env=tool_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=as_from_a_terminal,
    )
    try:
        deadline = time.monotonic() + 60
        while (run_id := running_run(checkout / "mlflow.db", exclude)) is None:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "no RUNNING run in 60 s"
            time.sleep(0.2)
        yield process, run_id
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()


@pytest.mark.parametrize(
    ("signum", "name", "status"),
    [
        (signal.SIGTERM, "SIGTERM", 143),
        (signal.SIGINT, "Ctrl-C", 130),
    ],
)
def test_an_interrupted_training_ends_killed_and_writes_no_model(prepared, signum, name, status):
    with endless_training(prepared) as (process, run_id):
        time.sleep(0.5)  # well into the epochs
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == status
    assert stderr == (
        f"error: interrupted by {name}; no output was half-written, and the MLflow run, "
        "if one was open, is marked KILLED\n"
    )
    client = MlflowClient(tracking_uri=f"sqlite:///{prepared / 'mlflow.db'}")
    assert client.get_run(run_id).info.status == "KILLED"
    assert not (prepared / "artifacts/model").exists()
    assert not list((prepared / "artifacts").glob(".model.*"))
    train.main(["experiment=tiny"])  # and the next training goes through
    assert (prepared / "artifacts/model/weights.npz").is_file()


def run_of_a_killed_process(checkout):
    """Start a training, kill -9 it; the id of the run it left RUNNING."""
    with endless_training(checkout) as (killed, run_id):
        killed.send_signal(signal.SIGKILL)
        killed.wait()
    return run_id


def test_runs_left_running_by_a_killed_process_are_marked_killed(prepared, capsys):
    dead_run = run_of_a_killed_process(prepared)
    other = endless_training(prepared, "paths.model=artifacts/other", exclude={dead_run})
    with other as (_, live_run):
        capsys.readouterr()
        stale.main([])
        client = MlflowClient(tracking_uri=f"sqlite:///{prepared / 'mlflow.db'}")
        assert client.get_run(dead_run).info.status == "KILLED"
        assert client.get_run(live_run).info.status == "RUNNING"
    assert capsys.readouterr().out == (
        f"stale: marked 1 RUNNING run(s) of experiment 'digitnet' KILLED: {dead_run}\n"
    )


def test_a_sweep_first_marks_its_experiments_stale_runs_killed(prepared):
    dead_run = run_of_a_killed_process(prepared)
    result = sh(
        ["python", "-m", "digitnet.train", "-m", "experiment=tiny", "hydra.sweep.dir=sweep"],
        prepared,
    )
    assert "sweep: marked 1 RUNNING run(s) left by dead processes KILLED" in result.stdout
    client = MlflowClient(tracking_uri=f"sqlite:///{prepared / 'mlflow.db'}")
    assert client.get_run(dead_run).info.status == "KILLED"
