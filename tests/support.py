"""Helpers the tests share: tiny real workbooks, subprocesses with this venv's tools, ports and
a real `mlflow server`, and a real git + DVC checkout of the pipeline."""

import datetime
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import xlsxwriter
import yaml

from digitnet.workbook import write_workbook

ROOT = Path(__file__).resolve().parents[1]
# The tests' short runs come from one preset, conf/experiment/tiny.yaml (`experiment=tiny`).
TINY_EPOCHS = yaml.safe_load((ROOT / "conf/experiment/tiny.yaml").read_text())["train"]["epochs"]


def tiny_digits(n_per_class=8, side=4, seed=0):
    """A learnable toy in the ex3 layout: class c lights pixel c (plus noise); labels 1..10."""
    rng = np.random.default_rng(seed)
    n_features = side * side
    classes = np.repeat(np.arange(10), n_per_class)
    X = np.round(rng.uniform(0, 0.2, size=(len(classes), n_features)), 4)
    X[np.arange(len(classes)), classes % n_features] += 0.8
    labels = np.where(classes == 0, 10, classes)
    return X, labels


def make_checkout(root, side=4):
    """`root` as a user's checkout: this project's conf/ and the tiny digits as data/digits.xlsx,
    where the app, the stages and sweeps run as they do for a user. Images side x side: 8 is
    large enough for conf/model/cnn.yaml's 5x5 kernels and pooling."""
    shutil.copytree(ROOT / "conf", root / "conf")
    (root / "data").mkdir()
    write_workbook(root / "data" / "digits.xlsx", *tiny_digits(side=side))
    return root


def tool_env(**extra):
    """The environment for subprocesses: this venv's python and dvc first on PATH."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["DVC_NO_ANALYTICS"] = "1"
    env.pop("MLFLOW_TRACKING_URI", None)
    env.update(extra)
    return env


def sh(args, cwd, check=True, **extra_env):
    """Run a command and return its result; with `check`, fail the test showing its output."""
    result = subprocess.run(
        args, cwd=cwd, env=tool_env(**extra_env), capture_output=True, text=True
    )
    if check and result.returncode != 0:
        pytest.fail(
            f"{' '.join(map(str, args))} exited {result.returncode}\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
    return result


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_group(process, seconds=20):
    """SIGTERM to the process group that `process` leads (started with start_new_session), then
    wait until no process of the group is left; SIGKILL what is still there after `seconds`."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + seconds
    while group_alive(process.pid) and time.monotonic() < deadline:
        process.poll()  # reap the leader, so that it does not linger as a zombie
        time.sleep(0.1)
    if group_alive(process.pid):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def group_alive(pgid):
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def wait_for_url(url, process, seconds=90, log=None):
    """Poll `url` until it answers 200; fail if `process` exits or `seconds` pass first, showing
    the text of the file `log` if there is one."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if process.poll() is not None:
            shown = f":\n{Path(log).read_text(errors='replace')}" if log else ""
            pytest.fail(
                f"{process.args[0]} exited {process.returncode} before {url} answered{shown}"
            )
        if time.monotonic() > deadline:
            pytest.fail(f"{url} did not answer in {seconds} s")
        time.sleep(0.5)


@contextmanager
def mlflow_server(cwd, backend_store_uri, *options):
    """A real `mlflow server` on 127.0.0.1 at a free port; yields its base URL. It runs in its own
    process group, stopped by its process id when the block ends."""
    port = free_port()
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "mlflow"),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--backend-store-uri",
            backend_store_uri,
            *options,
        ],
        cwd=cwd,
        env=tool_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_url(f"{base}/health", process)
        yield base
    finally:
        stop_group(process)


def wait_for_line(log, text, process, seconds, what):
    """Poll the file `log` until it holds `text`; fail, showing the log, if `process` exits or
    `seconds` pass first (`what` names the process in the message)."""
    deadline = time.monotonic() + seconds
    while text not in Path(log).read_text(errors="replace"):
        assert process.poll() is None, Path(log).read_text(errors="replace")
        assert time.monotonic() < deadline, f"{what} did not start in {seconds} s"
        time.sleep(0.2)


def started_together(cwd, *commands, seconds=600):
    """Start every command (a list of `digitnet train` words each) at once, as from several
    terminals; wait for all; return [(exit status, stdout, stderr)] in the same order."""
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "digitnet.train", *words],
            cwd=cwd,
            env=tool_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for words in commands
    ]
    outputs = [p.communicate(timeout=seconds) for p in processes]
    return [(p.returncode, *output) for p, output in zip(processes, outputs, strict=True)]


def set_yaml_key(path, key, value):
    """Change one top-level `key: value` line of a conf file, keeping its comment."""
    lines = Path(path).read_text().splitlines()
    for i, line in enumerate(lines):
        if line.startswith(f"{key}:"):
            comment = line[line.index("#") :] if "#" in line else ""
            lines[i] = f"{key}: {value}  {comment}".rstrip()
            break
    else:
        raise KeyError(key)
    Path(path).write_text("\n".join(lines) + "\n")


# A good 3 x 3 workbook in the ex3 layout, for tests to break one cell or part at a time
X_GOOD = [[0.0, 0.5, 1.0], [0.25, 0.0, 0.75], [1.0, 1.0, 0.0]]
Y_GOOD = [[10], [1], [9]]


def write_raw(path, sheets):
    """Write {sheet name: rows} cell by cell, however wrong: None leaves a cell blank,
    a non-finite float becomes a formula whose cached result it is (how NaN gets into a file)."""
    book = xlsxwriter.Workbook(path)
    dates = book.add_format({"num_format": "yyyy-mm-dd"})
    for name, rows in sheets.items():
        sheet = book.add_worksheet(name)
        for i, row in enumerate(rows):
            for j, value in enumerate(row):
                if value is None:
                    continue
                if isinstance(value, float) and not math.isfinite(value):
                    sheet.write_formula(i, j, "=0/0", None, value)
                elif isinstance(value, datetime.date):
                    sheet.write_datetime(i, j, value, dates)
                elif isinstance(value, str):
                    sheet.write_string(i, j, value)
                else:
                    sheet.write(i, j, value)
    book.close()


def with_cell(rows, row, col, value):
    """A copy of `rows` with one cell replaced, grown with blanks if needed."""
    rows = [list(r) for r in rows]
    while len(rows) <= row:
        rows.append([])
    rows[row] += [None] * (col + 1 - len(rows[row]))
    rows[row][col] = value
    return rows


def edit_part(path, part, edit):
    """Rewrite the workbook at `path` with the text of its part `part` passed through `edit`."""
    with zipfile.ZipFile(path) as source:
        parts = {name: source.read(name) for name in source.namelist()}
    parts[part] = edit(parts[part].decode()).encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for name, data in parts.items():
            target.writestr(name, data)


# Billion laughs: lol9 stands for 10^9 "lol"s, 3 GB of text if a parser expanded it.
LAUGHS = "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
DTD = f'?>\n<!DOCTYPE r [<!ENTITY lol0 "lol">{LAUGHS}]>\n'


def write_entity_bomb(path, part):
    """The good workbook with the laughs declared in `part` and used in its first value or text.
    Cell A1 of X is the text "lol", so that the workbook has an xl/sharedStrings.xml."""
    write_raw(path, {"X": with_cell(X_GOOD, 0, 0, "lol"), "y": Y_GOOD})

    def laughs(xml):
        return re.sub(
            r"<([vt])>[^<]*</\1>", r"<\1>&lol9;</\1>", xml.replace("?>\n", DTD, 1), count=1
        )

    edit_part(path, part, laughs)


def make_project(root, workbook, preset="tiny"):
    """A git + DVC checkout of this project's pipeline in `root`, with `workbook` as its data and
    `preset` as params.yaml's `experiment`, which dvc.yaml passes to the stages (experiment=tiny).
    """
    for name in ("conf", "src"):
        shutil.copytree(
            ROOT / name, root / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
        )
    for name in ("dvc.yaml", "params.yaml", ".gitignore", ".dvcignore"):
        shutil.copy(ROOT / name, root / name)
    (root / "data").mkdir()
    shutil.copy(workbook, root / "data" / "digits.xlsx")
    set_yaml_key(root / "params.yaml", "experiment", preset)
    sh(["git", "init", "-q", "-b", "main"], root)
    sh(["git", "config", "user.email", "test@example.com"], root)
    sh(["git", "config", "user.name", "test"], root)
    sh(["dvc", "init", "-q"], root)
    sh(["dvc", "config", "core.analytics", "false"], root)
    sh(["dvc", "add", "-q", "data"], root)
    sh(["git", "add", "-A"], root)
    sh(["git", "commit", "-q", "-m", "project"], root)
    return root


def as_from_a_terminal():
    """In the child, before it starts: SIGINT and SIGTERM as a shell gives them, whatever the
    test process inherited or set (a child keeps ignored and blocked signals across exec)."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


def numeric_gradient(loss, P, h=1e-6):
    """Central differences (L(p + h) - L(p - h)) / 2h of `loss()` for every entry of the array P,
    which is changed in place and put back."""
    G = np.zeros_like(P)
    for index in np.ndindex(P.shape):
        saved = P[index]
        P[index] = saved + h
        up = loss()
        P[index] = saved - h
        down = loss()
        P[index] = saved
        G[index] = (up - down) / (2 * h)
    return G


def relative_error(analytic, numeric):
    """‖a - n‖ / (‖a‖ + ‖n‖): scale-free, and 1 when one side is zero and the other is not."""
    return np.linalg.norm(analytic - numeric) / (np.linalg.norm(analytic) + np.linalg.norm(numeric))
