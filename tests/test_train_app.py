"""`python -m digitnet.train`: the real Hydra app, one experiment outside the DVC pipeline."""

import fcntl
import json
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from support import sh, tool_env

pytestmark = pytest.mark.slow


TINY = [
    "train.epochs=20",
    "train.batch_size=16",
    "data.val_fraction=0.25",
    "data.test_fraction=0.25",
]


def test_app_builds_missing_arrays_then_trains_and_evaluates_into_its_run_dir(checkout):
    result = sh(["python", "-m", "digitnet.train", *TINY, "hydra.run.dir=run"], checkout)
    assert "ingest:" in result.stdout and "evaluate: accuracy" in result.stdout
    assert (checkout / "artifacts/processed/train.npz").is_file()
    assert (checkout / "run/model/weights.npz").is_file()
    assert not (checkout / "artifacts/model").exists()
    metrics = json.loads((checkout / "run/eval/metrics.json").read_text())
    client = MlflowClient(tracking_uri=f"sqlite:///{checkout / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("digitnet").experiment_id])
    assert run.data.metrics["val_accuracy"] == pytest.approx(metrics["val_accuracy"])
    assert len(client.get_metric_history(run.info.run_id, "cost")) == 20


def test_app_reuses_processed_arrays_without_reading_excel(checkout):
    sh(["python", "-m", "digitnet.train", *TINY, "hydra.run.dir=first"], checkout)
    (checkout / "data/digits.xlsx").unlink()
    result = sh(["python", "-m", "digitnet.train", *TINY, "hydra.run.dir=second"], checkout)
    assert "ingest:" not in result.stdout
    assert (checkout / "second/eval/metrics.json").is_file()


def test_app_reports_a_bad_setting_in_one_line(checkout):
    result = sh(
        ["python", "-m", "digitnet.train", "train.lr=-2", "hydra.run.dir=run"],
        checkout,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "error: setting train.lr = -2.0 must be > 0"
    assert not (checkout / "artifacts").exists()


def test_the_console_script_is_installed_and_composes_the_config(checkout):
    script = Path(sys.executable).parent / "digitnet-train"
    result = sh([str(script), "--cfg", "job", "train.lr=0.25"], checkout)
    assert "lr: 0.25" in result.stdout


def test_an_interactive_terminal_gets_a_progress_bar_over_epochs(checkout):
    sh(["python", "-m", "digitnet.train", *TINY, "hydra.run.dir=first"], checkout)
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    process = subprocess.run(
        [sys.executable, "-m", "digitnet.stages.train", *TINY, "tracking.enabled=false"],
        cwd=checkout,
        env=tool_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=follower,
        timeout=120,
    )
    os.close(follower)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    assert process.returncode == 0
    assert b"train:" in shown and b"/20 [" in shown and b"epoch/s" in shown


def test_logs_get_one_line_per_stage_and_no_bar(checkout):
    sh(["python", "-m", "digitnet.train", *TINY, "hydra.run.dir=first"], checkout)
    result = sh(
        ["python", "-m", "digitnet.stages.train", *TINY, "tracking.enabled=false"], checkout
    )
    assert result.stdout.count("\n") == 1 and result.stdout.startswith("train: ")
    assert "epoch/s" not in result.stderr


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["train.foo=1"], "error: unknown setting 'train.foo' (the valid keys are in conf/)"),
        (
            ["-m", "train.foo=1,2"],
            "error: unknown setting 'train.foo' (the valid keys are in conf/)",
        ),
        (
            ["experiment=nope"],
            "error: no preset experiment=nope; choose one of best, ng_ex4, tutorial",
        ),
        (["+sweep=nope"], "error: no preset sweep=nope; choose one of grid"),
        (["train.epochs=0"], "error: setting train.epochs = 0 must be >= 1"),
        (
            ["model.activation=softplus"],
            "error: setting model.activation = 'softplus' choose one of sigmoid, tanh, relu, "
            "leaky_relu, swish",
        ),
    ],
)
def test_the_app_refuses_bad_settings_in_one_line_before_any_work(checkout, arguments, message):
    result = sh(
        ["python", "-m", "digitnet.train", *arguments, "hydra.run.dir=run"], checkout, check=False
    )
    assert (result.returncode, result.stderr.strip()) == (2, message)
    assert not (checkout / "artifacts").exists() and not (checkout / "mlflow.db").exists()
