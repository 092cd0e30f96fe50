"""One training job on the sample: each stage's time and peak memory, what importing MLflow
costs, and where a job's time goes beyond its epochs.

    make bench          (or: .venv/bin/python benchmarks/job.py)

Works in a temporary copy of conf/ and the sample workbook, with its own MLflow store. Each
stage runs as `python -m digitnet.stages.<stage>` in a fresh process whose peak resident set
size comes from wait4; the ingest and preprocess stages build the processed arrays that the rest
uses. Then jobs, train + evaluate as a sweep job runs them, are run in this process with every
tracking and plotting call timed.
"""

import collections
import contextlib
import functools
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _bench import ROOT, bar, duration, sample_workbook

BAR_TRAIN_PEAK_MB = 300
BAR_MLFLOW_SHARE = 0.05  # of a 500-epoch job
ANCHOR_IMPORT_MLFLOW = 2.0  # seconds, measured on this kind of machine
JOB_EPOCHS = 500
MLFLOW_MODULES = ("tracking.", "logged_model.")  # the modules that call MLflow


def environment():
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    env.pop("MLFLOW_TRACKING_URI", None)
    return env


def measured(args, cwd):
    """(seconds, peak RSS in MB) of a command run to completion in a fresh process."""
    started = time.perf_counter()
    child = subprocess.Popen(
        args, cwd=cwd, env=environment(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{child.stderr.read().decode()}")
    child.stderr.close()
    return seconds, usage.ru_maxrss / 1024


def stages(project):
    print("The pipeline's stages on the sample, default settings, each in a fresh process:")
    peaks = {}
    for stage, extra in (
        ("ingest", []),
        ("preprocess", []),
        ("train", []),
        ("train", ["tracking.enabled=false"]),
        ("evaluate", []),
    ):
        args = [sys.executable, "-m", f"digitnet.stages.{stage}", *extra]
        seconds, peak = measured(args, project)
        name = f"{stage} {' '.join(extra)}".strip()
        print(f"  {name:42s} {duration(seconds):>9s}   peak RSS {peak:6.1f} MB")
        peaks[name] = peak
    bar("train stage peak RSS, MB / 300", peaks["train"] / BAR_TRAIN_PEAK_MB, 1.0)


def imports(rounds=3):
    print(f"Importing, in a fresh process (median of {rounds}):")
    for module, anchor in (("numpy", None), ("mlflow", ANCHOR_IMPORT_MLFLOW)):
        times = []
        for _ in range(rounds):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", f"import {module}"], check=True)
            times.append(time.perf_counter() - started)
        seconds = statistics.median(times)
        command = f'python -c "import {module}"'
        line = f"  {command:42s} {duration(seconds):>9s}"
        if anchor:
            line += f"   anchor {duration(anchor)} ({seconds / anchor:.2f} of it)"
        print(line)


def timing(module, totals, prefix, depth):
    """Wrap every public function of `module` so that its calls add to totals[prefix.name].

    Only the outermost call counts, across all the modules wrapped with the same `depth` (a
    one-item list): tracking.start_run calling tracking.client is start_run's.
    """
    for name in dir(module):
        function = getattr(module, name)
        if name.startswith("_") or not callable(function) or isinstance(function, type):
            continue
        if getattr(function, "__module__", None) != module.__name__:
            continue

        @functools.wraps(function)
        def timed(*args, __function=function, __key=f"{prefix}.{name}", **kwargs):
            depth[0] += 1
            started = time.perf_counter()
            try:
                return __function(*args, **kwargs)
            finally:
                depth[0] -= 1
                if depth[0] == 0:
                    totals[__key] += time.perf_counter() - started

        setattr(module, name, timed)


def job(project, run_experiment, load_config, totals, name):
    """Run one job; print where its time went; return (MLflow calls, whole job) in seconds."""
    totals.clear()
    config = load_config([f"train.epochs={JOB_EPOCHS}"])
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        report = run_experiment(config, project / name)
    total = time.perf_counter() - started
    epochs = report["train_seconds"]
    mlflow_time = sum(v for k, v in totals.items() if k.startswith(MLFLOW_MODULES))
    figures = sum(v for k, v in totals.items() if k.startswith("plots."))
    print(f"  {'the whole job (train + evaluate)':42s} {duration(total):>9s}")
    print(f"  {'its epochs':42s} {duration(epochs):>9s}")
    print(f"  {'MLflow calls (tracking.*, logged_model.*)':42s} {duration(mlflow_time):>9s}")
    for key, seconds in totals.most_common():
        if key.startswith(MLFLOW_MODULES) and seconds >= 0.005:
            print(f"    {key:40s} {duration(seconds):>9s}")
    print(f"  {'figures (plots.*)':42s} {duration(figures):>9s}")
    rest = total - epochs - mlflow_time - figures
    print(f"  {'the rest (load, save, predict, metrics)':42s} {duration(rest):>9s}")
    print(f"  {'overhead: all but the epochs':42s} {duration(total - epochs):>9s}")
    return mlflow_time, total


def jobs(project):
    """Two 500-epoch jobs in this process, as a sweep worker runs them: the first pays for
    MLflow's and matplotlib's first use, the second shows what every later job costs."""
    os.chdir(project)
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    started = time.perf_counter()
    import mlflow  # noqa: F401  (timed on its own: a process pays it once)

    imported = time.perf_counter() - started
    from digitnet import logged_model, plots, tracking, training
    from digitnet.cli import load_config
    from digitnet.experiment import run_experiment

    totals = collections.Counter()
    depth = [0]
    timing(tracking, totals, "tracking", depth)
    timing(logged_model, totals, "logged_model", depth)
    training.log_model = logged_model.log_model  # training calls it by its own name
    timing(plots, totals, "plots", depth)
    print(f"Jobs of {JOB_EPOCHS} epochs (default settings otherwise), train + evaluate, in one")
    print(f"process as on a sweep worker; import mlflow took {duration(imported)} before them.")
    print("The first job in the process:")
    job(project, run_experiment, load_config, totals, "first")
    print("The next job in the same process:")
    mlflow_time, total = job(project, run_experiment, load_config, totals, "second")
    bar("MLflow calls / the whole job, next job", mlflow_time / total, BAR_MLFLOW_SHARE)


def main():
    workbook = sample_workbook()
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        shutil.copytree(ROOT / "conf", project / "conf")
        (project / "data").mkdir()
        shutil.copy(workbook, project / "data" / "digits.xlsx")
        stages(project)
        imports()
        jobs(project)


if __name__ == "__main__":
    main()
