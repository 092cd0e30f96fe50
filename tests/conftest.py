"""Shared fixtures: tiny real workbooks and a real DVC project in a temporary directory."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from digitnet.workbook import write_workbook

ROOT = Path(__file__).resolve().parents[1]


def tiny_digits(n_per_class=8, side=4, seed=0):
    """A learnable toy in the ex3 layout: class c lights pixel c (plus noise); labels 1..10."""
    rng = np.random.default_rng(seed)
    n_features = side * side
    classes = np.repeat(np.arange(10), n_per_class)
    X = np.round(rng.uniform(0, 0.2, size=(len(classes), n_features)), 4)
    X[np.arange(len(classes)), classes % n_features] += 0.8
    labels = np.where(classes == 0, 10, classes)
    return X, labels


@pytest.fixture
def tiny_workbook(tmp_path):
    X, y = tiny_digits()
    path = tmp_path / "tiny.xlsx"
    write_workbook(path, X, y)
    return path


@pytest.fixture
def checkout(tmp_path, tiny_workbook):
    """A directory with this project's conf/ and the tiny workbook as data/digits.xlsx."""
    shutil.copytree(ROOT / "conf", tmp_path / "conf")
    (tmp_path / "data").mkdir()
    shutil.copy(tiny_workbook, tmp_path / "data/digits.xlsx")
    return tmp_path


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


def make_project(root, workbook):
    """A git + DVC checkout of this project's pipeline in `root`, with `workbook` as its data."""
    for name in ("conf", "src"):
        shutil.copytree(
            ROOT / name, root / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
        )
    for name in ("dvc.yaml", ".gitignore", ".dvcignore"):
        shutil.copy(ROOT / name, root / name)
    (root / "data").mkdir()
    shutil.copy(workbook, root / "data" / "digits.xlsx")
    set_yaml_key(root / "conf/train/gd.yaml", "epochs", 30)
    set_yaml_key(root / "conf/train/gd.yaml", "batch_size", 16)
    set_yaml_key(root / "conf/data/digits.yaml", "val_fraction", 0.25)
    set_yaml_key(root / "conf/data/digits.yaml", "test_fraction", 0.25)
    sh(["git", "init", "-q", "-b", "main"], root)
    sh(["git", "config", "user.email", "test@example.com"], root)
    sh(["git", "config", "user.name", "test"], root)
    sh(["dvc", "init", "-q"], root)
    sh(["dvc", "config", "core.analytics", "false"], root)
    sh(["dvc", "add", "-q", "data"], root)
    sh(["git", "add", "-A"], root)
    sh(["git", "commit", "-q", "-m", "project"], root)
    return root
