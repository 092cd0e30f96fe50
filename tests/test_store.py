"""The MLflow store under faults: held locked by another process, out of space, copied.

Every test drives real processes: `digitnet` commands in subprocesses on a real SQLite store, a
second process that holds the store's lock (sqlite3, BEGIN EXCLUSIVE), a real tmpfs that fills
up, a project copied with `cp -r` or moved with `mv`. Each asserts the one line a user sees, the
exit status and what the store then holds: no run is left RUNNING.
"""

import re
import shutil
import subprocess
import sys
import threading
import time

import pytest
from mlflow.tracking import MlflowClient

from support import make_checkout, sh

pytestmark = pytest.mark.slow  # digitnet commands in subprocesses

TINY = ["experiment=tiny", "tracking.busy_timeout=1"]
HOLD = """\
import sqlite3, sys
store = sqlite3.connect(sys.argv[1], isolation_level=None)
store.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.readline()  # held until told
store.execute("COMMIT")
"""


def digitnet(checkout, *args):
    """`python -m digitnet ARGS` in `checkout`; the CompletedProcess, whatever its status."""
    return sh([sys.executable, "-m", "digitnet", *args], checkout, check=False)


def client(checkout):
    return MlflowClient(tracking_uri=f"sqlite:///{checkout / 'mlflow.db'}")


def runs(checkout, experiment="digitnet"):
    mlflow_client = client(checkout)
    found = mlflow_client.get_experiment_by_name(experiment)
    return mlflow_client.search_runs([found.experiment_id]) if found else []


@pytest.fixture
def trained(tmp_path):
    """A checkout with one finished `digitnet train` run in its mlflow.db."""
    checkout = make_checkout(tmp_path / "project")
    sh([sys.executable, "-m", "digitnet", "train", *TINY], checkout)
    return checkout


class Holder:
    """A second process holding a SQLite store locked until `release`."""

    def __init__(self, store):
        self.process = subprocess.Popen(
            [sys.executable, "-c", HOLD, str(store)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout.readline() == "locked\n"

    def release(self):
        self.process.communicate("\n", timeout=30)


@pytest.fixture
def holder():
    """Holder(store); every one started is released at the end of the test."""
    started = []
    yield lambda store: started.append(Holder(store)) or started[-1]
    for each in started:
        if each.process.poll() is None:
            each.release()


# ---------------------------------------------------------------- a busy store


def busy_line(store):
    return (
        f"error: the MLflow store {store} is busy: another process has held it locked for 1 s; "
        "run again when it is done, or wait longer with tracking.busy_timeout=<seconds>\n"
    )


def test_a_store_held_locked_stops_train_after_busy_timeout_in_one_line(trained, holder):
    holder(trained / "mlflow.db")
    started = time.monotonic()
    result = digitnet(trained, "train", *TINY)
    assert (result.returncode, result.stderr) == (2, busy_line(trained / "mlflow.db"))
    assert time.monotonic() - started < 20  # not MLflow's own 20 s per statement
    assert [run.info.status for run in runs(trained)] == ["FINISHED"]


def test_a_store_held_locked_stops_evaluate_in_one_line(trained, holder):
    sh([sys.executable, "-m", "digitnet.stages.ingest"], trained)
    sh([sys.executable, "-m", "digitnet.stages.preprocess", *TINY], trained)
    sh([sys.executable, "-m", "digitnet.stages.train", *TINY], trained)
    holder(trained / "mlflow.db")
    result = sh([sys.executable, "-m", "digitnet.stages.evaluate", *TINY], trained, check=False)
    assert (result.returncode, result.stderr) == (2, busy_line(trained / "mlflow.db"))


def test_a_run_whose_store_frees_up_while_it_ends_ends_failed_with_the_reason(
    trained, holder, monkeypatch
):
    from digitnet import tracking
    from digitnet.errors import StoreError

    uri = f"sqlite:///{trained / 'mlflow.db'}"
    monkeypatch.setattr(tracking, "busy_timeout", 1)
    run_id = tracking.start_run(uri, "digitnet", "locked", params={}, tags={})
    lock = holder(trained / "mlflow.db")
    with pytest.raises(StoreError, match="is busy"), tracking.ending(uri, run_id):
        try:
            tracking.log_metrics(uri, run_id, {"val_accuracy": 0.5})
        finally:  # the store frees up while the run is being ended, past its first try
            threading.Timer(1.5, lock.release).start()
    run = client(trained).get_run(run_id)
    assert run.info.status == "FAILED"
    reason = busy_line(trained / "mlflow.db").removeprefix("error: ").rstrip("\n")
    assert run.data.tags[tracking.FAILURE_TAG] == reason
    assert "val_accuracy" not in run.data.metrics


# ---------------------------------------------------------------- no space left


@pytest.fixture
def small_disk(tmp_path):
    """mount(path, megabytes): a tmpfs of that size at `path`, unmounted after the test."""
    mounted = []

    def mount(path, megabytes):
        path.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={megabytes}m", "tmpfs", str(path)],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            pytest.skip(f"a tmpfs cannot be mounted here: {done.stderr.strip()}")
        mounted.append(path)
        return path

    yield mount
    for path in mounted:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(folder):
    """Write to `folder` until its filesystem has no space left."""
    with open(folder / "filler", "wb") as filler:
        try:
            while True:
                filler.write(b"\0" * 65536)
                filler.flush()
        except OSError:
            pass


def no_space_line(path):
    return re.compile(
        rf"error: no space left on the device of {re.escape(str(path))}\S*; "
        r"free some space there and run again\n"
    )


def test_artifacts_on_a_full_disk_fail_the_run_in_one_line(trained, small_disk):
    mlruns = small_disk(trained / "mlruns.full", 2)
    shutil.copytree(trained / "mlruns", mlruns, dirs_exist_ok=True)
    shutil.rmtree(trained / "mlruns")
    (trained / "mlruns").symlink_to(mlruns)
    fill(mlruns)
    result = digitnet(trained, "train", *TINY)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert no_space_line(trained / "mlruns").fullmatch(result.stderr), result.stderr
    newest = runs(trained)[0]
    assert newest.info.status == "FAILED"
    assert newest.data.tags["digitnet.failure"].startswith("no space left on the device of")


# ---------------------------------------------------------------- a copied or moved project


def artifact_files(folder):
    return sorted(path.relative_to(folder) for path in folder.rglob("*"))


def set_aside_line(store, original, copy):
    return (
        f"tracking: {store} was copied or moved from {original}, where experiment 'digitnet' "
        f"keeps its artifacts; its runs are now experiment 'digitnet from {original}', and new "
        f"runs go to a new 'digitnet' with their artifacts in {copy / 'mlruns'}\n"
    )


def test_a_copied_project_logs_into_itself_and_leaves_the_original_alone(trained, tmp_path):
    before = artifact_files(trained / "mlruns")
    copy = tmp_path / "copy"
    sh(["cp", "-r", str(trained), str(copy)], tmp_path)
    result = sh([sys.executable, "-m", "digitnet", "train", *TINY], copy)
    assert result.stdout.startswith(set_aside_line(copy / "mlflow.db", trained, copy))
    assert artifact_files(trained / "mlruns") == before
    (new,) = runs(copy)
    assert new.info.status == "FINISHED"
    assert new.info.artifact_uri.startswith((copy / "mlruns").as_uri() + "/")
    assert client(copy).list_artifacts(new.info.run_id, "evaluation")
    (old,) = runs(copy, f"digitnet from {trained}")
    assert old.info.run_id == runs(trained)[0].info.run_id
    again = sh([sys.executable, "-m", "digitnet", "train", *TINY], copy)  # set aside once
    assert "tracking:" not in again.stdout and len(runs(copy)) == 2


def test_a_moved_project_writes_nothing_where_it_was(trained, tmp_path):
    moved = tmp_path / "moved"
    sh(["mv", str(trained), str(moved)], tmp_path)
    sh([sys.executable, "-m", "digitnet", "train", *TINY], moved)
    assert not trained.exists()
    (new,) = runs(moved)
    assert new.info.artifact_uri.startswith((moved / "mlruns").as_uri() + "/")
