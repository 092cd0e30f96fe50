"""Sweeps under faults: a job killed outright, Ctrl-C on the whole sweep, and resuming both.

Each test runs a real joblib sweep of four jobs (two at a time) in a subprocess, strikes while
jobs train, then runs the same command into the same sweep directory again. Nothing may be left
RUNNING, no finished result may be lost, and the resumed sweep has one child run per job with
no job trained twice.
"""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from mlflow.tracking import MlflowClient

from support import as_from_a_terminal, make_checkout, tool_env

pytestmark = pytest.mark.slow

# Four jobs of about four seconds each on the tiny digits, two at a time.
SWEEP = [
    "-m",
    "experiment=tiny",
    "train.batch_size=1",
    "train.epochs=3000",
    "train.lr=0.3,0.4,0.5,0.6",
    "hydra/launcher=joblib",
    "hydra.launcher.n_jobs=2",
    "hydra.sweep.dir=sweep",
]
JOBS = 4


def start(checkout):
    return subprocess.Popen(
        [sys.executable, "-m", "digitnet.train", *SWEEP],
        cwd=checkout,
        env=tool_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal gives a command
        preexec_fn=as_from_a_terminal,
    )


def finish(process, seconds=180):
    try:
        out, err = process.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        pytest.fail(f"the sweep did not end in {seconds} s:\n{out}\n{err}")
    return process.returncode, out, err


def runs(checkout):
    """(parents, {job: [child runs]}) of the checkout's store, deleted runs left out."""
    client = MlflowClient(tracking_uri=f"sqlite:///{checkout / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("digitnet")
    found = client.search_runs([experiment.experiment_id], max_results=1000)
    parents = [r for r in found if "mlflow.parentRunId" not in r.data.tags]
    children = {}
    for run in found:
        if "mlflow.parentRunId" in run.data.tags:
            children.setdefault(int(run.data.tags["job"]), []).append(run)
    return parents, children


def wait_for(condition, process, seconds=120):
    deadline = time.monotonic() + seconds
    while not (found := condition()):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"not within {seconds} s"
        time.sleep(0.1)
    return found


def running_child(checkout):
    """A child run that is RUNNING and has trained a while, or None."""
    if not (checkout / "mlflow.db").is_file() or not (checkout / "sweep" / "sweep.json").exists():
        return None
    _, children = runs(checkout)
    running = [r for job in children.values() for r in job if r.info.status == "RUNNING"]
    started = [r for r in running if time.time() * 1000 - r.info.start_time > 1000]
    return started[0] if started else None


def finished_jobs(checkout):
    records = [json.loads(p.read_text()) for p in (checkout / "sweep").glob("*/job.json")]
    return {r["job"]: r for r in records if r["status"] == "FINISHED"}


def assert_resumed_whole(checkout, kept):
    """The resumed sweep: every job FINISHED in one child run under the first parent, and the
    jobs in `kept` (job -> run id) not trained again."""
    parents, children = runs(checkout)
    (parent,) = parents
    assert parent.info.status == "FINISHED"
    assert sorted(children) == list(range(JOBS))
    for job, job_runs in children.items():
        assert [r.info.status for r in job_runs] == ["FINISHED"], job
    for job, run_id in kept.items():
        assert children[job][0].info.run_id == run_id, f"job {job} trained again"


@pytest.fixture
def checkout(tmp_path):
    return make_checkout(tmp_path)


def test_a_killed_job_is_one_failed_job_and_resuming_runs_only_it(checkout):
    process = start(checkout)
    victim = wait_for(lambda: running_child(checkout), process)
    os.kill(int(victim.data.tags["digitnet.pid"]), signal.SIGKILL)
    status, out, _ = finish(process)

    job = int(victim.data.tags["job"])
    assert status == 1
    assert f"3 of 4 jobs finished; job {job} (train.lr=" in out
    assert "died (SIGKILL)" in out
    parents, children = runs(checkout)
    assert parents[0].info.status == "FINISHED"
    statuses = {j: [r.info.status for r in rs] for j, rs in children.items()}
    assert statuses == {j: ["FAILED" if j == job else "FINISHED"] for j in range(JOBS)}
    kept = {j: rs[0].info.run_id for j, rs in children.items() if j != job}
    record = json.loads((checkout / "sweep" / str(job) / "job.json").read_text())
    assert (record["status"], record["error"]) == ("FAILED", "died (SIGKILL)")

    status, out, err = finish(start(checkout))
    assert status == 0, err
    assert "resuming in" in out and "3 finished jobs kept" in out
    assert "all 4 jobs finished" in out
    assert_resumed_whole(checkout, kept)


def test_ctrl_c_ends_the_sweep_killed_keeps_what_finished_and_resuming_completes_it(checkout):
    process = start(checkout)
    wait_for(lambda: finished_jobs(checkout) and running_child(checkout), process)
    os.killpg(process.pid, signal.SIGINT)
    status, out, err = finish(process)

    assert status == 130, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: sweep interrupted by Ctrl-C: ")
    assert "to resume, run the same command with hydra.sweep.dir=" in last
    parents, children = runs(checkout)
    assert parents[0].info.status == "KILLED"
    assert all(r.info.status != "RUNNING" for rs in children.values() for r in rs)
    done = finished_jobs(checkout)
    assert done and len(done) < JOBS
    kept = {job: record["run_id"] for job, record in done.items()}
    for job, run_id in kept.items():
        assert [r.info.run_id for r in children[job]] == [run_id]
        assert children[job][0].info.status == "FINISHED"
    assert (checkout / "sweep" / "summary.csv").is_file()

    status, out, err = finish(start(checkout))
    assert status == 0, err
    assert f"{len(kept)} finished jobs kept" in out
    assert_resumed_whole(checkout, kept)


def refused(checkout, recorded):
    """Run a 2-job sweep into ./sweep, whose sweep.json says `recorded`; its stderr."""
    (checkout / "sweep").mkdir()
    (checkout / "sweep" / "sweep.json").write_text(json.dumps(recorded))
    result = subprocess.run(
        [sys.executable, "-m", "digitnet.train", "-m", "train.lr=0.1,0.3", "hydra.sweep.dir=sweep"],
        cwd=checkout,
        env=tool_env(),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert not (checkout / "mlflow.db").exists()  # refused before any work
    return result.stderr


def test_resuming_with_another_grid_is_refused_in_one_line(checkout):
    assert refused(checkout, {"overrides": ["train.lr=0.1,0.2"]}).startswith(
        "error: sweep holds the sweep of `train.lr=0.1,0.2`, not of `train.lr=0.1,0.3`"
    )


def test_resuming_after_conf_changed_is_refused_in_one_line(checkout):
    recorded = {"overrides": ["train.lr=0.1,0.3"], "conf_md5": "0" * 32}
    assert refused(checkout, recorded).startswith("error: conf/ has changed since the sweep in")
