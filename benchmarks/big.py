"""Ten times the sample: the 50,000-row workbook through ingest, every stage, `dvc repro` and a
sweep, and training time against rows, up to 200,000.

    .venv/bin/python benchmarks/big.py [PART ...]    (ingest sample start compare repro sweep rows)

The workbook (benchmarks/bigbook.py: the sample and nine shifted copies, 71 MB) is built first
if missing; the build is not timed. Every command runs in a fresh process whose time is taken
with perf_counter and whose peak resident set size comes from wait4 (for `dvc repro`, the
largest of its children: the hungriest stage). Commands compared with each other run in turns,
round after round, and each gets its median. The pipeline runs in a temporary git + DVC copy of
the project, with its own MLflow store. Figures are also written to docs/measured/big.json.
Needs the `bench` extra (pandas) for the pandas reader.
"""

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _bench import ROOT, bar, interleaved, sample_workbook
from bigbook import big_workbook

ROUNDS = 3  # rounds of the 50,000-row readers (about 6 to 20 s each)
SAMPLE_ROUNDS = 7
BAR_FASTEXCEL = 1.2  # ingest stage / fastexcel to float64, at most
BAR_PANDAS = 2.0  # pandas with calamine / ingest stage, at least
BAR_SAMPLE = 1.25  # ingest command / a bare fastexcel script run as a command, at most
BAR_START_S = 0.3  # a stage's start: everything but its work
BAR_PEAK_MB = 2048  # any stage on the 50,000-row workbook
BAR_LINEAR = 0.15  # training time per row, 5,000 against 50,000 and 200,000 rows
SWEEP = ["seed=0,1,2,3,4,5,6,7", "hydra/launcher=joblib"]
# The code `dvc repro` is compared with: the pipeline before fastexcel and stages composed
# without Hydra (python-calamine cell by cell; every stage composed by Hydra).
BEFORE = "4c13d0e"
STAGES = ("ingest", "preprocess", "train", "evaluate")
RESULTS = {}

# Each reader as a script, so that each pays for its own imports, as a user's command would.
READERS = {
    # Each column as a view of its Arrow buffer, as digitnet does: Arrow's to_numpy would import
    # pandas first, which is 0.15 s of this script.
    "fastexcel": """
import sys, fastexcel, numpy as np
reader = fastexcel.read_excel(sys.argv[1])
def numbers(sheet):
    batch = reader.load_sheet(sheet, header_row=None).to_arrow()
    return np.column_stack(
        [np.frombuffer(c.buffers()[1], np.float64, len(c), c.offset * 8) for c in batch.columns]
    )
X, y = numbers("X"), numbers("y")[:, 0]
""",
    "python-calamine": """
import sys, numpy as np
from python_calamine import CalamineWorkbook
book = CalamineWorkbook.from_path(sys.argv[1])
X = np.array(book.get_sheet_by_name("X").to_python(), dtype=np.float64)
y = np.array(book.get_sheet_by_name("y").to_python(), dtype=np.float64)[:, 0]
""",
    "pandas calamine": """
import sys, numpy as np, pandas as pd
sheets = pd.read_excel(sys.argv[1], sheet_name=["X", "y"], header=None, engine="calamine")
X, y = sheets["X"].to_numpy(np.float64), sheets["y"].to_numpy(np.float64)[:, 0]
""",
}
# A stage with its work taken out: `digitnet stage NAME ...` as dvc.yaml runs it, up to the
# call of its work, which returns at once.
NO_WORK = """
import sys
from digitnet import cli
real_run = cli.run
cli.run = lambda work, argv=None, **kwargs: real_run(lambda config: None, argv, **kwargs)
from digitnet.__main__ import main
sys.argv = ["digitnet", *sys.argv[1:]]
main()
"""


def environment(cwd=None):
    """This venv's tools first on PATH; in a project copy, its own src/ is the digitnet run."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    env.pop("MLFLOW_TRACKING_URI", None)
    env["DVC_NO_ANALYTICS"] = "1"
    if cwd is not None and (Path(cwd) / "src" / "digitnet").is_dir():
        env["PYTHONPATH"] = str(Path(cwd) / "src")
    return env


def measured(args, cwd=ROOT, on_line=None):
    """(seconds, peak RSS in MB) of a command in a fresh process; its peak, or for a command
    that starts others (dvc), the largest peak among them. `on_line(line)` sees its stdout."""
    started = time.perf_counter()
    child = subprocess.Popen(
        args,
        cwd=cwd,
        env=environment(cwd),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = []
    for line in child.stdout:
        output.append(line)
        if on_line:
            on_line(line)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(map(str, args))} failed:\n{''.join(output)}")
    return seconds, usage.ru_maxrss / 1024  # Linux: the largest of it and its descendants


def in_turns(commands, rounds):
    """{name: (median seconds, median peak MB)} of commands, each `args` or `(args, cwd)`, run
    in turns, round after round."""
    runs = {name: [] for name in commands}
    for _ in range(rounds):
        for name, command in commands.items():
            args, cwd = command if isinstance(command, tuple) else (command, ROOT)
            runs[name].append(measured(args, cwd))
    return {
        name: (statistics.median(s for s, _ in r), statistics.median(m for _, m in r))
        for name, r in runs.items()
    }


def line(name, seconds, peak=None, note=""):
    text = f"  {name:52s} {seconds:7.2f} s"
    if peak is not None:
        text += f"   peak {peak:6.0f} MB"
    print(text + (f"   {note}" if note else ""), flush=True)


def ingest_command(workbook, tmp):
    """The ingest stage as dvc.yaml runs it, with no arguments, in a directory of `tmp` that
    holds conf/ and `workbook` as data/digits.xlsx."""
    project = Path(tmp) / f"ingest-{workbook.stem}"
    if not project.is_dir():
        shutil.copytree(ROOT / "conf", project / "conf")
        (project / "data").mkdir()
        (project / "data" / "digits.xlsx").symlink_to(workbook)
    return ["digitnet", "stage", "ingest"], project


def reader_command(name, workbook):
    return [sys.executable, "-c", READERS[name], str(workbook)]


def ingest_part(tmp):
    workbook = big_workbook()
    commands = {"ingest": ingest_command(workbook, tmp)}
    commands |= {name: reader_command(name, workbook) for name in READERS}
    t = in_turns(commands, ROUNDS)
    arrays_mb = 50_000 * 401 * 8 / 2**20  # X and y as float64, what every reader returns
    print(
        f"Reading the 50,000-row workbook ({workbook.stat().st_size / 2**20:.0f} MB), "
        f"each as a command, median of {ROUNDS} rounds:"
    )
    for name, (seconds, peak) in t.items():
        line(name, seconds, peak, f"{peak / arrays_mb:.1f}× its arrays ({arrays_mb:.0f} MB)")
    bar("ingest stage / fastexcel to float64", t["ingest"][0] / t["fastexcel"][0], BAR_FASTEXCEL)
    bar(
        "pandas calamine / ingest stage",
        t["pandas calamine"][0] / t["ingest"][0],
        BAR_PANDAS,
        at_least=True,
    )
    RESULTS["ingest_50k"] = {name: {"seconds": s, "peak_mb": m} for name, (s, m) in t.items()}
    RESULTS["ingest_50k"]["arrays_mb"] = arrays_mb


def sample_part(tmp):
    workbook = sample_workbook()
    t = in_turns(
        {
            "ingest": ingest_command(workbook, tmp),
            "fastexcel": reader_command("fastexcel", workbook),
            "python-calamine": reader_command("python-calamine", workbook),
        },
        SAMPLE_ROUNDS,
    )
    print(f"Reading the sample (5,000 rows) as a command, median of {SAMPLE_ROUNDS} rounds:")
    for name, (seconds, peak) in t.items():
        line(name, seconds, peak)
    bar("ingest command / bare fastexcel command", t["ingest"][0] / t["fastexcel"][0], BAR_SAMPLE)
    RESULTS["ingest_sample"] = {name: {"seconds": s, "peak_mb": m} for name, (s, m) in t.items()}


def start_part(tmp):
    """Each stage with its work taken out, against `python -c pass`, in turns."""
    commands = {"python": [sys.executable, "-c", "pass"]}
    for stage in STAGES:
        extra = [] if stage == "ingest" else ["experiment=default"]
        commands[stage] = [sys.executable, "-c", NO_WORK, "stage", stage, *extra]
    t = in_turns(commands, SAMPLE_ROUNDS)
    print(
        f"A stage's start (to the call of its work, as dvc runs it), median of "
        f"{SAMPLE_ROUNDS} rounds:"
    )
    for name, (seconds, peak) in t.items():
        line(name if name == "python" else f"{name} stage, no work", seconds, peak)
    slowest = max(t[stage][0] for stage in STAGES)
    bar(f"slowest stage start / {BAR_START_S} s", slowest / BAR_START_S, 1.0)
    RESULTS["start"] = {name: s for name, (s, _) in t.items()}


PROJECT_FILES = ("conf", "src", "dvc.yaml", "params.yaml", ".gitignore", ".dvcignore")


def project_copy(tmp, workbook, name="project", revision=None):
    """A git + DVC copy of the project in `tmp`/`name` with `workbook` as data/digits.xlsx:
    this checkout's files, or those of a git `revision` of it."""
    project = Path(tmp) / name
    project.mkdir()
    if revision is None:
        for part in PROJECT_FILES:
            copy = shutil.copytree if (ROOT / part).is_dir() else shutil.copy
            copy(ROOT / part, project / part)
    else:
        archive = subprocess.run(
            ["git", "archive", revision, *PROJECT_FILES], cwd=ROOT, check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(project)], input=archive, check=True)
    (project / "data").mkdir()
    shutil.copy(workbook, project / "data" / "digits.xlsx")
    for args in (["git", "init", "-q"], ["dvc", "init", "-q"], ["dvc", "add", "-q", "data"]):
        subprocess.run(args, cwd=project, env=environment(project), check=True, capture_output=True)
    return project


def repro(project):
    """`dvc repro` from clean outputs: (total s, hungriest stage MB, {stage: s from its start
    line to the next})."""
    marks = []

    def on_line(text):
        if found := re.match(r"Running stage '(\w+)'", text):
            marks.append((found[1], time.perf_counter()))

    started = time.perf_counter()
    seconds, peak = measured(["dvc", "repro"], project, on_line)
    marks.append(("end", started + seconds))
    return seconds, peak, {a: t2 - t1 for (a, t1), (_, t2) in zip(marks, marks[1:], strict=False)}


def repro_part(tmp):
    workbook = big_workbook()
    project = project_copy(tmp, workbook)
    seconds, peak, per_stage = repro(project)
    metrics = json.loads((project / "artifacts/eval/metrics.json").read_text())
    print("dvc repro on the 50,000-row workbook, default settings, from clean outputs:")
    for stage, stage_seconds in per_stage.items():
        line(f"stage {stage} (as dvc runs it)", stage_seconds)
    line("all four stages", seconds, peak, "(peak: the hungriest stage)")
    print(f"  test accuracy {metrics['test_accuracy']:.4f}")
    peaks = {}
    print("Each stage again, alone, in a fresh process:")
    for stage in STAGES:
        extra = [] if stage == "ingest" else ["experiment=default"]
        stage_seconds, peaks[stage] = measured(["digitnet", "stage", stage, *extra], project)
        line(stage, stage_seconds, peaks[stage])
    bar(f"hungriest stage, MB / {BAR_PEAK_MB}", max(peaks.values()) / BAR_PEAK_MB, 1.0)
    RESULTS["repro_50k"] = {
        "seconds": seconds,
        "peak_mb": peak,
        "stages": per_stage,
        "stage_peak_mb": peaks,
        "test_accuracy": metrics["test_accuracy"],
    }
    return project


def compare_part(tmp, revision=BEFORE, rounds=5):
    """`dvc repro` on the sample from clean outputs: this checkout against `revision`, in turns;
    the whole run and each stage, as dvc runs it."""
    workbook = sample_workbook()
    runs = {"this checkout": [], revision: []}
    for i in range(rounds):
        for name, rev in (("this checkout", None), (revision, revision)):
            project = project_copy(tmp, workbook, f"compare-{i}-{rev}", rev)
            seconds, _, stages = repro(project)
            runs[name].append({"all": seconds, **stages})
            shutil.rmtree(project)
    print(f"dvc repro on the sample from clean outputs, median of {rounds} rounds in turns:")
    medians = {}
    for name, values in runs.items():
        medians[name] = {key: statistics.median(v[key] for v in values) for key in values[0]}
        split = ", ".join(f"{key} {medians[name][key]:.1f}" for key in STAGES)
        every = ", ".join(f"{v['all']:.1f}" for v in values)
        line(name, medians[name]["all"], None, f"({split}; runs: {every})")
    ratio = medians["this checkout"]["all"] / medians[revision]["all"]
    bar(f"this checkout / {revision}", ratio, 1.0)
    RESULTS["repro_sample"] = medians


def sweep_part(tmp, project=None):
    project = project or repro_part(tmp)
    args = ["digitnet", "train", "-m", *SWEEP, "hydra.sweep.dir=big-sweep"]
    seconds, peak = measured(args, project)
    records = [json.loads(p.read_text()) for p in (project / "big-sweep").glob("*/job.json")]
    assert len(records) == 8 and all(r["status"] == "FINISHED" for r in records)
    job = statistics.median(r["seconds"] for r in records)
    print(f"A sweep of 8 default jobs ({' '.join(SWEEP)}) on the 50,000-row workbook:")
    line("the sweep, wall time", seconds, peak, "(peak: the hungriest process)")
    line("one job, median", job)
    RESULTS["sweep_50k"] = {"seconds": seconds, "peak_mb": peak, "job_seconds": job}


def rows_part(tmp, rounds=5):
    """Default training (batches of 64, 400-25-10, float64) per row, on synthetic arrays; the
    sizes timed in turns, round after round, so that a busy machine slows them alike."""
    from epoch import digitnet_epochs

    epochs = 3  # the same for every size: each call of `fit` also costs the initial weights
    candidates = {}
    for n_rows in (5_000, 50_000, 200_000):
        rng = np.random.default_rng(0)
        X, Y = rng.random((n_rows, 400)), np.eye(10)[rng.integers(0, 10, n_rows)]
        candidates[n_rows] = digitnet_epochs(X, Y, 64, np.float64, epochs=epochs)
    t = interleaved(candidates, rounds, per_call=epochs)
    per_row = {n_rows: seconds / n_rows for n_rows, seconds in t.items()}
    print(
        f"Default training (batches of 64, 400-25-10, float64), an epoch on synthetic rows, "
        f"median of {rounds} rounds in turns:"
    )
    for n_rows, seconds in per_row.items():
        relative = seconds / per_row[5_000]
        note = f"per row {seconds * 1e6:.2f} µs, {relative:.2f} of 5,000 rows'"
        line(f"{n_rows:,} rows, one epoch", seconds * n_rows, None, note)
    worst = max(abs(s / per_row[5_000] - 1) for s in per_row.values())
    bar("time per row, largest departure from 5,000 rows'", worst, BAR_LINEAR)
    RESULTS["rows"] = {str(n): s for n, s in per_row.items()}


PARTS = {
    "ingest": ingest_part,
    "sample": sample_part,
    "start": start_part,
    "compare": compare_part,
    "rows": rows_part,
}


def main(argv):
    parts = argv or ["ingest", "sample", "start", "compare", "repro", "sweep", "rows"]
    with tempfile.TemporaryDirectory() as tmp:
        project = None
        for part in parts:
            if part == "repro":
                project = repro_part(tmp)
            elif part == "sweep":
                sweep_part(tmp, project)
            else:
                PARTS[part](tmp)
    out = ROOT / "docs" / "measured" / "big.json"
    recorded = json.loads(out.read_text()) if out.is_file() else {}
    out.write_text(json.dumps(recorded | RESULTS, indent=2) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
