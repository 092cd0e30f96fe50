"""Hydra multirun sweeps tracked in MLflow: one parent run per sweep, one child run per job.

The callback's `on_multirun_start` runs once, in the launching process, before any job: it builds
the processed arrays if they are missing (so the workbook is read once, not once per job), creates
the MLflow store, the experiment and the sweep's parent run, and leaves their ids in
<sweep dir>/sweep.json for the jobs, wherever a launcher runs them. Each job records itself in
<job dir>/job.json, also when it fails; `on_multirun_end` turns those records into the summary.
"""

import logging
import math
import os
import socket
import time
import traceback
from pathlib import Path

import numpy as np
from hydra.experimental.callback import Callback

from digitnet import provenance, tracking
from digitnet.artifacts import load_json, read_costs, save_json
from digitnet.config import to_config
from digitnet.errors import DigitnetError
from digitnet.experiment import ensure_processed, run_experiment
from digitnet.training import log_datasets

SWEEP_FILE = "sweep.json"
JOB_FILE = "job.json"
log = logging.getLogger(__name__)


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
        settings = to_config(config)
        sweep_dir = Path(str(config.hydra.sweep.dir)).resolve()
        sweep_dir.mkdir(parents=True, exist_ok=True)
        processed = ensure_processed(settings)
        info = {"sweep_id": sweep_id(sweep_dir), "parent_run_id": None, "tracking_uri": None}
        info["source"] = provenance.source_name()  # the command, also for jobs in other processes
        if settings.tracking.enabled:
            uri = tracking.tracking_uri(settings.tracking.uri)
            if stale := tracking.mark_stale(uri, settings.tracking.experiment):
                print(f"sweep: marked {len(stale)} RUNNING run(s) left by dead processes KILLED")
            overrides = list(config.hydra.overrides.task)
            info["tracking_uri"] = uri
            info["parent_run_id"] = tracking.start_run(
                uri,
                settings.tracking.experiment,
                f"sweep {info['sweep_id']}",
                params={"sweep.overrides": " ".join(overrides) or "(none)"},
                tags={"sweep_id": info["sweep_id"], "sweep_dir": str(sweep_dir)},
            )
            # the splits the sweep starts from, so that its row in the UI names its data too
            log_datasets(uri, info["parent_run_id"], settings, processed)
        save_json(sweep_dir / SWEEP_FILE, info)
        print(f"sweep {info['sweep_id']}: writing to {sweep_dir}", flush=True)

    def on_multirun_end(self, config, **kwargs):
        from digitnet import summary  # matplotlib: loaded only once the jobs are done

        sweep_dir = Path(str(config.hydra.sweep.dir)).resolve()
        if not (sweep_dir / SWEEP_FILE).is_file():
            return
        info = load_json(sweep_dir / SWEEP_FILE)
        records, histories = collect(sweep_dir)
        if not records:
            return
        print(summary.render_table(records), flush=True)
        files = [sweep_dir / "summary.csv", sweep_dir / "cost_curves.png"]
        summary.write_csv(records, files[0])
        summary.cost_curves(records, histories, files[1], title=f"Sweep {info['sweep_id']}")
        if summary.heatmap(records, sweep_dir / "heatmap.png"):
            files.append(sweep_dir / "heatmap.png")
        print(f"sweep {info['sweep_id']}: summary in {sweep_dir}/summary.csv", flush=True)
        if info["parent_run_id"]:
            uri, parent = info["tracking_uri"], info["parent_run_id"]
            tracking.log_artifacts(uri, parent, files, "summary")
            finished = [r for r in records if r["status"] == "FINISHED"]
            scores = {"jobs": len(records), "failed_jobs": len(records) - len(finished)}
            if finished:
                scores["best_val_accuracy"] = max(r["val_accuracy"] for r in finished)
            tracking.log_metrics(uri, parent, scores)
            tracking.end_run(uri, parent, "FINISHED" if finished else "FAILED")


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
    """One job of a sweep: train + evaluate as a child run; never raises, returns the objective.

    A failing job (bad settings, a diverging cost, a bug) is recorded FAILED with its reason and
    returns NaN, so that the other jobs still run and the summary can name it.
    """
    started = time.perf_counter()
    out_dir = Path(hydra_config.runtime.output_dir)
    job = hydra_config.job.num
    overrides = list(hydra_config.overrides.task)
    record = {
        "job": job,
        "overrides": dict(item.split("=", 1) for item in overrides if "=" in item),
        "status": "FINISHED",
        "error": None,
    }
    report = {}
    try:
        report = _run(cfg, hydra_config, out_dir)
    except DigitnetError as exc:
        record.update(status="FAILED", error=str(exc))
    except Exception as exc:  # a bug must not take the other jobs down with it
        log.error("job %s failed:\n%s", job, traceback.format_exc())
        record.update(status="FAILED", error=f"{type(exc).__name__}: {exc}")
    record |= {key: report.get(key) for key in (*REPORTED, "train_seconds")}
    record["seconds"] = round(time.perf_counter() - started, 3)
    save_json(out_dir / JOB_FILE, record)
    if record["status"] == "FAILED":
        print(f"job {job} ({' '.join(overrides)}) FAILED: {record['error']}", flush=True)
        return math.nan
    return report.get("val_accuracy", math.nan)


def _run(cfg, hydra_config, out_dir):
    """The job's experiment, as a child of the sweep's parent run when there is one; named
    like any run, from its preset and what differs from it."""
    info_file = Path(str(hydra_config.sweep.dir)).resolve() / SWEEP_FILE
    info = load_json(info_file) if info_file.is_file() else {}
    tags = {"sweep_id": info.get("sweep_id", ""), "job": str(hydra_config.job.num)}
    if info.get("source"):
        tags[provenance.SOURCE_NAME_TAG] = info["source"]
    return run_experiment(
        to_config(cfg), out_dir, parent_run_id=info.get("parent_run_id"), tags=tags
    )
