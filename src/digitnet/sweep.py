"""Hydra multirun sweeps tracked in MLflow: one parent run per sweep, one child run per job.

The callback's `on_multirun_start` runs once, in the launching process, before any job: it builds
the processed arrays if they are missing (so the workbook is read once, not once per job), creates
the MLflow store, the experiment and the sweep's parent run, and leaves their ids in
<sweep dir>/sweep.json for the jobs, wherever a launcher runs them. Each job records itself in
<job dir>/job.json, also when it fails; `on_multirun_end` turns those records into the summary.

Faults. Each job trains in a process of its own, forked from the launcher's worker: a job killed
outright (the OOM killer, kill -9) is one FAILED job, and the worker, the pool and the other jobs
go on (a dead joblib/loky worker would break the whole pool). Ctrl-C or SIGTERM ends the running
jobs' runs KILLED, and `stop` then ends the parent KILLED and writes the summary of what finished.
Running the same sweep again into the same directory resumes it: finished jobs are kept, the
others run again under the same parent run.
"""

import functools
import hashlib
import logging
import math
import multiprocessing
import os
import signal
import socket
import sys
import time
import traceback
from pathlib import Path

import numpy as np
from hydra.experimental.callback import Callback

from digitnet import cli, provenance, tracking
from digitnet.artifacts import load_json, read_costs, save_json
from digitnet.config import conf_dir, to_config
from digitnet.errors import ConfigError, DigitnetError, Interrupted
from digitnet.experiment import ensure_processed, run_experiment, settle
from digitnet.training import log_datasets

SWEEP_FILE = "sweep.json"
JOB_FILE = "job.json"
log = logging.getLogger(__name__)
_ACTIVE = {}  # in the launching process: the sweep under way, for `stop` and `failed_jobs`


LAUNCH_DIR_VAR = "DIGITNET_LAUNCH_DIR"  # set by conf/hydra/launcher/ray.yaml for every worker


def enter_launch_dir():
    """Ray's worker setup hook: work in the directory the sweep was launched from.

    A worker on a Ray cluster starts in the directory where `ray start` ran, so the sweep's
    relative paths (its directory, data/, artifacts/, the default mlflow.db) would resolve there.
    """
    directory = os.environ.get(LAUNCH_DIR_VAR)
    if not directory:
        return
    if not os.path.isdir(directory):
        raise DigitnetError(
            f"the sweep was launched from {directory}, which node {socket.gethostname()} "
            "does not have: every Ray node must see the project at the same path"
        )
    os.chdir(directory)


def sweep_id(sweep_dir):
    """A readable id for the sweep: its directory below multirun/, e.g. '2026-11-28/17-05-09'."""
    parts = Path(sweep_dir).parts
    return "/".join(parts[-2:]) if len(parts) >= 2 else str(sweep_dir)


class SweepCallback(Callback):
    """Sets up a sweep's shared state before its jobs and summarises them after."""

    def on_multirun_start(self, config, **kwargs):
        try:
            self._start(config)
        except Exception:  # Hydra would warn and start the jobs anyway; a user's error (a
            with cli.reported():  # server refusing the user) is one line and exit 2 instead
                raise

    def _start(self, config):
        settings = to_config(config)
        # Hydra turns a callback's exception into a warning and starts the jobs anyway; a
        # missing or bad workbook is instead one line and exit status 2 (SystemExit passes).
        with cli.reported():
            processed = ensure_processed(settings)
        sweep_dir = Path(str(config.hydra.sweep.dir)).resolve()
        sweep_dir.mkdir(parents=True, exist_ok=True)
        overrides = list(config.hydra.overrides.task)
        earlier = sweep_dir / SWEEP_FILE
        info = load_json(earlier) if earlier.is_file() else {}
        resumed = bool(info)
        if not resumed:
            info = {"sweep_id": sweep_id(sweep_dir), "parent_run_id": None, "tracking_uri": None}
            info |= {"overrides": overrides, "conf_md5": conf_md5()}
            info["source"] = provenance.source_name()  # the command, also for other processes
        if settings.tracking.enabled:
            uri = tracking.store_uri(settings.tracking)
            if stale := tracking.mark_stale(uri, settings.tracking.experiment):
                print(f"sweep: marked {len(stale)} RUNNING run(s) left by dead processes KILLED")
            info["tracking_uri"] = uri
            if resumed and info.get("parent_run_id"):
                tracking.reopen_run(uri, info["parent_run_id"])
            else:
                info["parent_run_id"] = tracking.start_run(
                    uri,
                    settings.tracking.experiment,
                    f"sweep {info['sweep_id']}",
                    params={"sweep.overrides": " ".join(overrides) or "(none)"},
                    tags={"sweep_id": info["sweep_id"], "sweep_dir": str(sweep_dir)},
                )
                # the splits the sweep starts from, so that its row in the UI names its data
                log_datasets(uri, info["parent_run_id"], settings, processed)
        save_json(sweep_dir / SWEEP_FILE, info)
        _ACTIVE.update(sweep_dir=sweep_dir, info=info, ended=False)
        if resumed:
            kept = sum(r["status"] == "FINISHED" for r in collect(sweep_dir)[0])
            action = f"resuming in {sweep_dir}, {kept} finished jobs kept"
        else:
            action = f"writing to {sweep_dir}"
        print(f"sweep {info['sweep_id']}: {action}", flush=True)

    def on_multirun_end(self, config, **kwargs):
        sweep_dir = Path(str(config.hydra.sweep.dir)).resolve()
        if not (sweep_dir / SWEEP_FILE).is_file():
            return
        _ACTIVE["ended"] = True
        finish(sweep_dir, "FINISHED")


def finish(sweep_dir, ending):
    """The summary of the jobs recorded in `sweep_dir`, logged on the parent run, which ends
    FINISHED (FAILED if no job finished) or, with `ending` KILLED, KILLED. Returns the records."""
    from digitnet import summary  # matplotlib: loaded only once the jobs are done

    info = load_json(sweep_dir / SWEEP_FILE)
    uri, parent = info.get("tracking_uri"), info.get("parent_run_id")
    if parent:  # after Ctrl-C, the jobs get a moment to end their own runs KILLED
        killed = ending == "KILLED"
        tracking.end_orphans(uri, parent, ending if killed else "FAILED", wait=30 * killed)
    records, histories = collect(sweep_dir)
    _ACTIVE["records"] = records
    if not records:
        if parent:
            tracking.end_run(uri, parent, ending if ending == "KILLED" else "FAILED")
        return records
    print(summary.render_table(records), flush=True)
    files = [sweep_dir / "summary.csv", sweep_dir / "cost_curves.png"]
    summary.write_csv(records, files[0])
    summary.cost_curves(records, histories, files[1], title=f"Sweep {info['sweep_id']}")
    if summary.heatmap(records, sweep_dir / "heatmap.png"):
        files.append(sweep_dir / "heatmap.png")
    print(f"sweep {info['sweep_id']}: summary in {sweep_dir}/summary.csv", flush=True)
    if parent:
        tracking.log_artifacts(uri, parent, files, "summary")
        finished = [r for r in records if r["status"] == "FINISHED"]
        scores = {"jobs": len(records), "failed_jobs": len(records) - len(finished)}
        if finished:
            scores["best_val_accuracy"] = max(r["val_accuracy"] for r in finished)
        tracking.log_metrics(uri, parent, scores)
        status = ending if ending == "KILLED" else ("FINISHED" if finished else "FAILED")
        tracking.end_run(uri, parent, status)
    return records


def collect(sweep_dir):
    """Every job's record and cost history found under `sweep_dir`, by job number."""
    records, histories = [], {}
    for path in sorted(Path(sweep_dir).glob(f"*/{JOB_FILE}")):
        record = load_json(path)
        records.append(record)
        cost_file = path.parent / "model" / "cost.csv"
        histories[record["job"]] = read_costs(cost_file) if cost_file.is_file() else np.array([])
    records.sort(key=lambda r: r["job"])
    return records, histories


REPORTED = ("run_id", "val_accuracy", "test_accuracy", "train_accuracy", "final_cost")


def run_job(cfg, hydra_config):
    """One job of a sweep, trained in a process of its own; never raises, returns the objective.

    A failing job (bad settings, a diverging cost, a bug, a kill) is recorded FAILED with its
    reason and returns NaN, so that the other jobs still run and the summary can name it. A job
    that finished in an earlier run of the same sweep directory is kept, not trained again.
    """
    out_dir = Path(hydra_config.runtime.output_dir)
    job, overrides = hydra_config.job.num, list(hydra_config.overrides.task)
    earlier = load_json(out_dir / JOB_FILE) if (out_dir / JOB_FILE).is_file() else None
    if earlier and earlier["status"] == "FINISHED" and earlier.get("task") == overrides:
        print(f"job {job} ({' '.join(overrides)}): finished before, kept", flush=True)
        return earlier.get("val_accuracy", math.nan)
    (out_dir / JOB_FILE).unlink(missing_ok=True)
    started = time.perf_counter()
    _warm(hydra_config)
    process = multiprocessing.get_context("fork").Process(
        target=_job_process, args=(cfg, hydra_config), name=f"digitnet job {job}"
    )
    process.start()
    try:
        process.join()
    except KeyboardInterrupt:  # the job has the signal too, and ends its run KILLED
        process.join(30)
        raise
    if (out_dir / JOB_FILE).is_file():
        record = load_json(out_dir / JOB_FILE)
    else:  # killed outright, or gone without a word: this process records it
        record = _died(hydra_config, process.exitcode)
    record["seconds"] = round(time.perf_counter() - started, 3)  # the fork and exit included
    save_json(out_dir / JOB_FILE, record)
    if record["status"] != "FINISHED":
        print(
            f"job {job} ({' '.join(overrides)}) {record['status']}: {record['error']}", flush=True
        )
        return math.nan
    return record.get("val_accuracy", math.nan)


@functools.cache
def _warm(hydra_config):
    """Once per worker, before its first fork: what every job would otherwise load again.

    A forked job starts from this process's memory, so the imports (MLflow's model and data
    modules, matplotlib), MLflow's first model save and the store's first use are paid once per
    worker, as when jobs ran in the worker itself, not once per job.
    """
    import tempfile

    import mlflow.data  # noqa: F401

    from digitnet import plots
    from digitnet.logged_model import warm

    warm()
    with tempfile.TemporaryDirectory() as tmp:  # the PNG writer and its fonts, loaded once
        figure = plots.Figure(figsize=(1, 1))
        figure.add_subplot().set_title("0")
        plots.save_figure(figure, Path(tmp) / "warm.png")
    info = _sweep_info(hydra_config)
    if info.get("tracking_uri"):
        tracking.client(info["tracking_uri"])
    settle()  # collected and frozen: the forks share these pages instead of copying them


def _job_process(cfg, hydra_config):
    """The job itself, in the forked process: train, evaluate, record job.json.

    SIGTERM is Ctrl-C here too: the run ends KILLED and the record says so.
    """

    def on_sigterm(signum, frame):
        raise Interrupted()

    signal.signal(signal.SIGTERM, on_sigterm)
    started = time.perf_counter()
    out_dir = Path(hydra_config.runtime.output_dir)
    job, record = hydra_config.job.num, _record(hydra_config, "FINISHED")
    report, status = {}, 0
    try:
        report = _run(cfg, hydra_config, out_dir)
    except DigitnetError as exc:
        record.update(status="FAILED", error=str(exc))
    except KeyboardInterrupt as exc:
        name = getattr(exc, "signal_name", "Ctrl-C")
        record.update(status="KILLED", error=f"interrupted by {name}")
        status = getattr(exc, "exit_status", 130)
    except Exception as exc:  # a bug must not take the other jobs down with it
        log.error("job %s failed:\n%s", job, traceback.format_exc())
        record.update(status="FAILED", error=f"{type(exc).__name__}: {exc}")
    record |= {key: report.get(key) for key in (*REPORTED, "train_seconds")}
    record["seconds"] = round(time.perf_counter() - started, 3)
    save_json(out_dir / JOB_FILE, record)
    sys.stdout.flush()
    os._exit(status)  # no atexit handlers of the launcher's worker in a forked job


def _record(hydra_config, status, error=None):
    """The start of a job's job.json: its number, swept values, command words and status."""
    overrides = list(hydra_config.overrides.task)
    return {
        "job": hydra_config.job.num,
        "overrides": dict(item.split("=", 1) for item in overrides if "=" in item),
        "task": overrides,
        "status": status,
        "error": error,
    }


def _sweep_info(hydra_config):
    """What on_multirun_start left in sweep.json for the jobs ({} outside such a sweep)."""
    info_file = Path(str(hydra_config.sweep.dir)).resolve() / SWEEP_FILE
    return load_json(info_file) if info_file.is_file() else {}


def _died(hydra_config, exitcode):
    """The record of a job whose process ended without one, its child run ended FAILED."""
    job = hydra_config.job.num
    if exitcode is not None and exitcode < 0:
        reason = f"died ({signal.Signals(-exitcode).name})"
    else:
        reason = f"its process exited with status {exitcode} and no record"
    record = _record(hydra_config, "FAILED", reason)
    record |= dict.fromkeys((*REPORTED, "train_seconds", "seconds"))
    info = _sweep_info(hydra_config)
    if info.get("parent_run_id"):
        runs = tracking.job_runs(info["tracking_uri"], info["parent_run_id"], job)
        for run_id, status in runs.items():
            if status == "RUNNING":
                tracking.end_run(info["tracking_uri"], run_id, "FAILED")
                record["run_id"] = run_id
    return record


def _run(cfg, hydra_config, out_dir):
    """The job's experiment, as a child of the sweep's parent run when there is one; named
    like any run, from its preset and what differs from it."""
    info = _sweep_info(hydra_config)
    tags = {"sweep_id": info.get("sweep_id", ""), "job": str(hydra_config.job.num)}
    if info.get("parent_run_id"):  # a resumed job: the runs of its earlier tries make way
        uri, parent = info["tracking_uri"], info["parent_run_id"]
        for run_id in tracking.job_runs(uri, parent, hydra_config.job.num):
            tracking.delete_run(uri, run_id)
    if info.get("source"):
        tags[provenance.SOURCE_NAME_TAG] = info["source"]
    return run_experiment(
        to_config(cfg), out_dir, parent_run_id=info.get("parent_run_id"), tags=tags
    )


def conf_md5():
    """One MD5 over every file of conf/: a resumed sweep must run on the settings it began with."""
    digest = hashlib.md5()
    root = conf_dir()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def task_words(argv):
    """The command line's settings and presets (Hydra's task overrides), in order."""
    words = [w for w in argv if "=" in w and not w.startswith("-")]
    return [w for w in words if not w.lstrip("+~").startswith(("hydra.", "hydra/"))]


def check_resume(argv):
    """Refuse, as one ConfigError, to resume a sweep directory with another grid or settings."""
    given = [w.split("=", 1)[1] for w in argv if w.startswith("hydra.sweep.dir=")]
    earlier = Path(given[-1]) / SWEEP_FILE if given else None
    if earlier is None or not earlier.is_file():
        return
    info = load_json(earlier)
    if info.get("overrides") != task_words(argv):
        raise ConfigError(
            f"{earlier.parent} holds the sweep of `{' '.join(info.get('overrides', []))}`, not "
            f"of `{' '.join(task_words(argv))}`: resume it with the same settings, or choose "
            "another hydra.sweep.dir"
        )
    if info.get("conf_md5") != conf_md5():
        raise ConfigError(
            f"conf/ has changed since the sweep in {earlier.parent} began: its finished jobs "
            "would not match the others; choose another hydra.sweep.dir"
        )


def stop(exc):
    """After Ctrl-C or SIGTERM in the launching process: end the sweep KILLED, summarise what
    finished, say how to resume, and exit 130 or 143."""
    name = getattr(exc, "signal_name", "Ctrl-C")
    status = getattr(exc, "exit_status", 130)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the summary
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if not _ACTIVE or _ACTIVE.get("ended"):
        print(f"error: interrupted by {name}", file=sys.stderr)
        sys.exit(status)
    sweep_dir = _ACTIVE["sweep_dir"]
    records = finish(sweep_dir, "KILLED")
    done = sum(r["status"] == "FINISHED" for r in records)
    print(
        f"error: sweep interrupted by {name}: {done} finished job{'s' * (done != 1)} kept; "
        f"to resume, run the same command with hydra.sweep.dir={sweep_dir}",
        file=sys.stderr,
    )
    sys.exit(status)


def failed_jobs():
    """How many jobs of the sweep that just ended did not finish (0 outside a sweep)."""
    return sum(r["status"] != "FINISHED" for r in _ACTIVE.get("records", []))
