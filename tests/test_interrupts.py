"""Ctrl-C and SIGTERM during training: the run ends KILLED, nothing half-written is left."""

import signal
import subprocess
import sys
import time

import pytest
from mlflow.tracking import MlflowClient

from conftest import sh, tool_env
from digitnet import tracking

pytestmark = pytest.mark.slow

TINY = ["data.val_fraction=0.25", "data.test_fraction=0.25", "train.batch_size=1"]


def running_run(store):
    """The id of the RUNNING run in the store, once there is one."""
    client = tracking.client(f"sqlite:///{store}")  # waits while the store is being created
    experiment = client.get_experiment_by_name("digitnet")
    if experiment is None:
        return None
    runs = client.search_runs([experiment.experiment_id], "attributes.status = 'RUNNING'")
    return runs[0].info.run_id if runs else None


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
