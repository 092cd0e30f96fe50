"""Kill one job of a sweep at a random moment, 20 times, and count what is lost; start four
runs together, 20 times, and count the records that are not their own.

    .venv/bin/python benchmarks/faults.py           (both parts; not part of make bench)
    .venv/bin/python benchmarks/faults.py together  (the second part alone, about 5 minutes)

Each trial runs a 4-job joblib sweep (two at a time) on 80 tiny 4x4 digits in a temporary
project, waits a random 0 to 6 s, kills with SIGKILL the process of a job RUNNING from then on
(the pid its MLflow run is tagged with), lets the sweep end, and resumes it into the same
directory. Counted per trial: finished results lost (a job recorded FINISHED whose run is not
FINISHED, or gone), runs left RUNNING after the sweep, and after resuming, jobs that do not have
exactly one FINISHED run.

Together: each of 20 trials starts four `digitnet train` runs with different learning rates at
once in one project, as a user starting them from four terminals would (so most trials have two
or more in the same second). Counted per trial: runs whose recorded scores differ from the same
run alone (training is deterministic for a seed), runs writing into a folder another run also
wrote into, runs left RUNNING, and runs that met another in the same second (told by a folder
name with a suffix, <time>_2). Writes docs/measured/faults.json.
"""

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from mlflow.tracking import MlflowClient

from digitnet.workbook import write_workbook

ROOT = Path(__file__).resolve().parents[1]


def make_project(root):
    """conf/ and a small workbook of 4x4 'digits' (class c lights pixel c), ex3 layout."""
    shutil.copytree(ROOT / "conf", root / "conf")
    (root / "data").mkdir()
    rng = np.random.default_rng(0)
    classes = np.repeat(np.arange(10), 8)
    X = rng.uniform(0, 0.2, size=(len(classes), 16))
    X[np.arange(len(classes)), classes] += 0.8
    write_workbook(root / "data" / "digits.xlsx", X, np.where(classes == 0, 10, classes))
    return root


TRIALS, JOBS = 20, 4
COMMAND = [
    sys.executable,
    "-m",
    "digitnet.train",
    "-m",
    "experiment=tiny",
    "train.batch_size=1",
    "train.epochs=3000",
    "train.lr=0.3,0.4,0.5,0.6",
    "hydra/launcher=joblib",
    "hydra.launcher.n_jobs=2",
    "hydra.sweep.dir=sweep",
]


def children(project):
    """The sweep's child runs, once the sweep has made its store (creating a store while the
    sweep does would race it)."""
    if not (project / "sweep" / "sweep.json").is_file():
        return []
    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("digitnet")
    if experiment is None:
        return []
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    return [r for r in runs if "mlflow.parentRunId" in r.data.tags]


def trial(project, rng, env):
    process = subprocess.Popen(
        COMMAND, cwd=project, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    time.sleep(rng.uniform(0, 6))
    killed = None
    while killed is None and process.poll() is None:  # the next moment a job is running
        running = [r for r in children(project) if r.info.status == "RUNNING"]
        if running:
            killed = rng.choice(running)
            try:
                os.kill(int(killed.data.tags["digitnet.pid"]), signal.SIGKILL)
            except ProcessLookupError:  # it ended between the look and the kill
                killed = None
        time.sleep(0.05)
    process.wait(timeout=300)
    runs = children(project)
    by_id = {r.info.run_id: r for r in runs}
    records = [json.loads(p.read_text()) for p in (project / "sweep").glob("*/job.json")]
    finished = [r for r in records if r["status"] == "FINISHED"]
    lost = sum(
        r["run_id"] not in by_id or by_id[r["run_id"]].info.status != "FINISHED" for r in finished
    )
    left_running = sum(r.info.status == "RUNNING" for r in runs)
    resumed = subprocess.run(COMMAND, cwd=project, env=env, capture_output=True, text=True)
    jobs = {}
    for run in children(project):
        jobs.setdefault(run.data.tags["job"], []).append(run.info.status)
    incomplete = sum(jobs.get(str(j)) != ["FINISHED"] for j in range(JOBS))
    return {
        "killed": killed is not None,
        "sweep_status": process.returncode,
        "finished_before_resume": len(finished),
        "results_lost": lost,
        "runs_left_running": left_running,
        "resume_status": resumed.returncode,
        "jobs_incomplete_after_resume": incomplete,
    }


RATES = ["0.02", "0.5", "3.0", "1.0"]


def train(project, env, lr):
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "digitnet.train",
            "experiment=tiny",
            "train.epochs=40",
            f"train.lr={lr}",
        ],
        cwd=project,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def recorded(project):
    """{lr: (val_accuracy, test_accuracy, final_cost) as MLflow recorded it} and the runs."""
    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("digitnet")
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    scores = {
        r.data.params["train.lr"]: tuple(
            r.data.metrics.get(k) for k in ("val_accuracy", "test_accuracy", "final_cost")
        )
        for r in runs
    }
    return scores, runs


def together(project, env, alone):
    processes = [train(project, env, lr) for lr in RATES]
    statuses = [p.wait(timeout=600) for p in processes]
    scores, runs = recorded(project)
    folders = [f.name for f in (project / "outputs").glob("*/*") if f.is_dir()]
    return {
        "exit_statuses": statuses,
        "runs": len(runs),
        "scores_differ_from_alone": sum(scores.get(lr) != alone[lr] for lr in RATES),
        "runs_in_a_shared_folder": len(RATES) - len(folders),  # each run makes one folder
        "runs_left_running": sum(r.info.status == "RUNNING" for r in runs),
        "met_in_the_same_second": sum("_" in name for name in folders),
    }


def main_together(env):
    alone = {}
    for lr in RATES:
        with tempfile.TemporaryDirectory() as tmp:
            project = make_project(Path(tmp))
            train(project, env, lr).wait(timeout=600)
            alone[lr] = recorded(project)[0][lr]
    print(f"alone: {alone}", flush=True)
    results = []
    for number in range(TRIALS):
        with tempfile.TemporaryDirectory() as tmp:
            result = together(make_project(Path(tmp)), env, alone)
        results.append(result)
        print(f"together {number + 1:2}: {result}", flush=True)
    keys = ("scores_differ_from_alone", "runs_in_a_shared_folder", "runs_left_running")
    totals = {key: sum(r[key] for r in results) for key in (*keys, "met_in_the_same_second")}
    totals |= {"trials": TRIALS, "runs": sum(r["runs"] for r in results)}
    print(
        f"{TRIALS} trials of {len(RATES)} runs started together: "
        f"{totals['scores_differ_from_alone']} runs whose scores differ from the run alone, "
        f"{totals['runs_in_a_shared_folder']} in a shared folder, "
        f"{totals['runs_left_running']} left RUNNING (targets 0); "
        f"{totals['met_in_the_same_second']} runs started in a second another run had"
    )
    return {"totals": totals, "alone": alone, "trials": results}


def main():
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    env.pop("MLFLOW_TRACKING_URI", None)
    out = ROOT / "docs" / "measured" / "faults.json"
    measured = json.loads(out.read_text()) if out.is_file() else {}
    if sys.argv[1:] != ["together"]:
        measured |= main_killed(env)
    measured["together"] = main_together(env)
    out.write_text(json.dumps(measured, indent=2) + "\n")


def main_killed(env):
    rng = random.Random(0)
    results = []
    for number in range(TRIALS):
        with tempfile.TemporaryDirectory() as tmp:
            project = make_project(Path(tmp))
            result = trial(project, rng, env)
        results.append(result)
        print(f"trial {number + 1:2}: {result}", flush=True)
    totals = {
        key: sum(r[key] for r in results)
        for key in ("killed", "results_lost", "runs_left_running", "jobs_incomplete_after_resume")
    }
    totals["trials"] = TRIALS
    print(
        f"{TRIALS} trials, {totals['killed']} with a job killed: "
        f"{totals['results_lost']} finished results lost (target 0), "
        f"{totals['runs_left_running']} runs left RUNNING (target 0), "
        f"{totals['jobs_incomplete_after_resume']} jobs incomplete after resuming"
    )
    return {"totals": totals, "trials": results}


if __name__ == "__main__":
    main()
