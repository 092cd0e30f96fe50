"""`python -m digitnet.train`: the real Hydra app, one experiment outside the DVC pipeline.

What the experiment does is specified in test_experiment.py; here, what only the app adds: its
command line, Hydra's run directory, the installed script and a terminal's progress bar.
"""

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

from digitnet import train
from support import TINY_EPOCHS, sh, tool_env


@pytest.mark.slow
def test_the_app_trains_and_evaluates_into_hydras_run_directory(checkout):
    result = sh(
        ["python", "-m", "digitnet.train", "experiment=tiny", "hydra.run.dir=run"], checkout
    )
    assert "ingest:" in result.stdout and "evaluate: accuracy" in result.stdout
    assert (checkout / "artifacts/processed/train.npz").is_file()
    assert (checkout / "run/model/weights.npz").is_file()
    assert (checkout / "run/.hydra/overrides.yaml").is_file()
    assert not (checkout / "artifacts/model").exists()
    metrics = json.loads((checkout / "run/eval/metrics.json").read_text())
    client = MlflowClient(tracking_uri=f"sqlite:///{checkout / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("digitnet").experiment_id])
    assert run.data.metrics["val_accuracy"] == pytest.approx(metrics["val_accuracy"])
    assert len(client.get_metric_history(run.info.run_id, "cost")) == TINY_EPOCHS


@pytest.mark.slow
def test_a_bad_value_stops_the_app_with_one_line_and_exit_status_2_before_any_work(checkout):
    result = sh(
        ["python", "-m", "digitnet.train", "train.lr=-2", "hydra.run.dir=run"],
        checkout,
        check=False,
    )
    assert (result.returncode, result.stderr) == (2, "error: setting train.lr = -2.0 must be > 0\n")
    assert not (checkout / "artifacts").exists() and not (checkout / "mlflow.db").exists()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["train.foo=1"], "error: unknown setting 'train.foo' (the valid keys are in conf/)\n"),
        (
            ["-m", "train.foo=1,2"],
            "error: unknown setting 'train.foo' (the valid keys are in conf/)\n",
        ),
        (
            ["experiment=nope"],
            "error: no preset experiment=nope; choose one of best, default, ng_ex4, tiny, tutorial\n",
        ),
        (["+sweep=nope"], "error: no preset sweep=nope; choose one of grid\n"),
        (
            ["-cn", "config", "--info", "config", "--cfg", "job", "-p", "train", "train.foo=1"],
            "error: unknown setting 'train.foo' (the valid keys are in conf/)\n",
        ),
    ],
)
def test_an_unknown_key_or_preset_on_the_command_line_is_refused_in_one_line(
    tmp_path, monkeypatch, capsys, arguments, message
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["digitnet-train", *arguments])
    with pytest.raises(SystemExit) as exited:
        train.main()
    assert (exited.value.code, capsys.readouterr().err) == (2, message)
    assert list(tmp_path.iterdir()) == []


def test_shell_completion_words_are_left_to_hydra(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["digitnet-train", "-sc", "install=bash"])
    train.main()
    assert "hydra_bash_completion()" in capsys.readouterr().out


@pytest.mark.slow
def test_the_console_script_is_installed_and_composes_the_config(checkout):
    script = Path(sys.executable).parent / "digitnet-train"
    result = sh([str(script), "--cfg", "job", "experiment=tiny", "train.lr=0.25"], checkout)
    assert "  lr: 0.25\n" in result.stdout
    assert f"  epochs: {TINY_EPOCHS}\n" in result.stdout


@pytest.mark.slow
def test_an_interactive_terminal_gets_a_progress_bar_over_epochs(prepared):
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    process = subprocess.run(
        [
            sys.executable,
            "-m",
            "digitnet.stages.train",
            "experiment=tiny",
            "tracking.enabled=false",
        ],
        cwd=prepared,
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
    assert b"train:" in shown and f"/{TINY_EPOCHS} [".encode() in shown and b"epoch/s" in shown
