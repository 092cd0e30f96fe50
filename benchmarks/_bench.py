"""What the benchmark scripts share: the sample's arrays, interleaved timing, and one way to print
a figure beside its anchor and a ratio against its bar.

The machines are shared and noisy, so every comparison is made within one run: the things to
compare are timed in turns, round after round, and each gets the median of its rounds.
"""

import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
WORKBOOK = ROOT / "data" / "digits.xlsx"


def sample_workbook():
    """data/digits.xlsx, built first if missing (as `make sample` does)."""
    if not WORKBOOK.is_file():
        subprocess.run([sys.executable, "-m", "digitnet.sample"], cwd=ROOT, check=True)
    return WORKBOOK


def sample_arrays():
    """X (5000, 400) float64 in [0, 1], one-hot Y (5000, 10) and the classes 0..9."""
    from digitnet.workbook import read_workbook

    X, labels = read_workbook(sample_workbook())
    classes = labels % 10  # label 10 is the digit 0
    return X, np.eye(10)[classes], classes


def interleaved(candidates, rounds, per_call=1):
    """Median seconds per unit of each `candidates[name]()` call, timed in turns over `rounds`.

    Each call does `per_call` units of work (epochs, say): its time is divided by that.
    """
    times = {name: [] for name in candidates}
    for _ in range(rounds):
        for name, work in candidates.items():
            started = time.perf_counter()
            work()
            times[name].append((time.perf_counter() - started) / per_call)
    return {name: statistics.median(values) for name, values in times.items()}


def duration(seconds):
    """A time in the unit that reads best: 12.3 ms, 1.84 s."""
    return f"{seconds * 1e3:.2f} ms" if seconds < 1 else f"{seconds:.2f} s"


def figure(work, seconds, anchor=None):
    """One line: what was timed, how long, and the anchor measured on this kind of machine."""
    line = f"  {work:58s} {duration(seconds):>10s}"
    if anchor is not None:
        line += f"   anchor {duration(anchor):>9s}  ({seconds / anchor:.2f} of it)"
    print(line, flush=True)


def bar(claim, ratio, limit, at_least=False):
    """One line: a target stated as a ratio, the ratio measured, and whether it is met."""
    met = ratio >= limit if at_least else ratio <= limit
    sign = "≥" if at_least else "≤"
    print(f"  bar: {claim}: {ratio:.2f} ({sign} {limit:g}) {'met' if met else 'MISSED'}")
    return met
