"""Time a 12-job sweep on the sample with the basic launcher and with joblib, and each job's
overhead beyond its epochs.

    make bench          (or: .venv/bin/python benchmarks/sweep.py)

Runs in a temporary copy (conf/ and the sample workbook), so the checkout's outputs and MLflow
store are left alone. The processed arrays are built once, before the two sweeps.
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GRID = ["model.hidden_sizes=[10],[25],[50]", "train.lr=0.1,0.5", "train.epochs=50,100"]
BAR_OVERHEAD_S = 0.5  # a job's time beyond its epochs, with the joblib launcher


def sweep(project, name, *extra):
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    env.pop("MLFLOW_TRACKING_URI", None)
    args = [sys.executable, "-m", "digitnet.train", "-m", *GRID, f"hydra.sweep.dir={name}"]
    started = time.perf_counter()
    subprocess.run([*args, *extra], cwd=project, env=env, check=True, capture_output=True)
    wall = time.perf_counter() - started
    records = [json.loads(p.read_text()) for p in (project / name).glob("*/job.json")]
    assert len(records) == 12 and all(r["status"] == "FINISHED" for r in records), name
    overheads = [r["seconds"] - r["train_seconds"] for r in records]
    epochs = sum(r["train_seconds"] for r in records)
    return wall, epochs, overheads


def main():
    workbook = ROOT / "data" / "digits.xlsx"
    if not workbook.is_file():
        subprocess.run([sys.executable, "-m", "digitnet.sample"], cwd=ROOT, check=True)
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        shutil.copytree(ROOT / "conf", project / "conf")
        (project / "data").mkdir()
        shutil.copy(workbook, project / "data" / "digits.xlsx")
        subprocess.run(
            [sys.executable, "-m", "digitnet.stages.ingest"],
            cwd=project,
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [sys.executable, "-m", "digitnet.stages.preprocess"],
            cwd=project,
            check=True,
            capture_output=True,
        )
        basic = sweep(project, "basic")
        joblib = sweep(project, "joblib", "hydra/launcher=joblib")
    print(f"12-job sweep ({' '.join(GRID)}), {os.cpu_count()} cores")
    for name, (wall, epochs, overheads) in (("basic", basic), ("joblib", joblib)):
        print(
            f"  {name:7s} wall {wall:6.1f} s; epochs {epochs:5.1f} s in all; overhead per job: "
            f"median {statistics.median(overheads):.2f} s, "
            f"mean {statistics.mean(overheads):.2f} s, max {max(overheads):.2f} s"
        )
    print(f"  joblib / basic wall time: {joblib[0] / basic[0]:.2f}")
    ratio = statistics.median(joblib[2]) / BAR_OVERHEAD_S
    print(f"  bar: joblib job overhead, median / {BAR_OVERHEAD_S} s: {ratio:.2f} (≤ 1)")


if __name__ == "__main__":
    main()
