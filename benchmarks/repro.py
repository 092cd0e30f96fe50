"""Time the default pipeline on the sample: `dvc repro` from clean outputs, then a no-op repro.

    make bench          (or: .venv/bin/python benchmarks/repro.py)

Works in a temporary git + DVC copy of the project, so the checkout's own outputs and MLflow store
are left alone. The sample workbook is taken from data/ (built by `make sample` if missing).
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BAR_FULL_S = 20.0  # a default `dvc repro` from clean outputs, after set-up
BAR_NOOP_S = 3.0  # a `dvc repro` with nothing to do


def run(args, cwd):
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    env.pop("MLFLOW_TRACKING_URI", None)
    started = time.perf_counter()
    subprocess.run(args, cwd=cwd, env=env, check=True, capture_output=True, text=True)
    return time.perf_counter() - started


def main():
    workbook = ROOT / "data" / "digits.xlsx"
    if not workbook.is_file():
        subprocess.run([sys.executable, "-m", "digitnet.sample"], cwd=ROOT, check=True)
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        for name in ("conf", "src"):
            shutil.copytree(ROOT / name, project / name)
        for name in ("dvc.yaml", "params.yaml", ".gitignore", ".dvcignore"):
            shutil.copy(ROOT / name, project / name)
        (project / "data").mkdir()
        shutil.copy(workbook, project / "data" / "digits.xlsx")
        for args in (["git", "init", "-q"], ["dvc", "init", "-q"], ["dvc", "add", "-q", "data"]):
            run(args, project)
        full = run(["dvc", "repro"], project)
        noop = run(["dvc", "repro"], project)
        metrics = json.loads((project / "artifacts/eval/metrics.json").read_text())
    print("dvc repro on the sample, default settings, in a fresh copy of the project:")
    print(f"  {'all four stages, from clean outputs':48s} {full:6.1f} s")
    print(f"  {'nothing changed':48s} {noop:6.1f} s")
    print(f"  {'test accuracy of the default model':48s} {metrics['test_accuracy']:8.4f}")
    print(f"  bar: full run / {BAR_FULL_S:.0f} s: {full / BAR_FULL_S:.2f} (≤ 1)")
    print(f"  bar: no-op run / {BAR_NOOP_S:.0f} s: {noop / BAR_NOOP_S:.2f} (≤ 1)")


if __name__ == "__main__":
    main()
