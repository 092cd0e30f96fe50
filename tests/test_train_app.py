"""`digitnet train`: the real Hydra app, one experiment outside the DVC pipeline.

What the experiment does is specified in test_experiment.py; here, what only the app adds: its
command line, Hydra's run directory, the installed script and a terminal's progress bar.
"""

import fcntl
import hashlib
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

from digitnet import rundirs, train
from support import TINY_EPOCHS, sh, started_together, tool_env


@pytest.mark.slow
def test_the_app_trains_and_evaluates_into_hydras_run_directory(checkout):
    result = sh(
        ["python", "-m", "digitnet.train", "experiment=tiny", "hydra.run.dir=run"], checkout
    )
    assert "ingest:" in result.stdout and "evaluate: accuracy" in result.stdout
    assert len(list((checkout / "artifacts/by-content").glob("processed-*/train.npz"))) == 1
    assert not (checkout / "artifacts/processed").exists()  # the pipeline's, left to dvc repro
    assert (checkout / "run/model/weights.npz").is_file()
    assert (checkout / "run/.hydra/overrides.yaml").is_file()
    assert not (checkout / "artifacts/model").exists()
    metrics = json.loads((checkout / "run/eval/metrics.json").read_text())
    client = MlflowClient(tracking_uri=f"sqlite:///{checkout / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("digitnet").experiment_id])
    assert run.data.metrics["val_accuracy"] == pytest.approx(metrics["val_accuracy"])
    assert len(client.get_metric_history(run.info.run_id, "cost")) == TINY_EPOCHS


@pytest.mark.slow
@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["model.image_side=5"],
            "error: setting model.image_side = 5 means 25 pixels per row, but the rows have 16; "
            "set model.image_side=null to take the side from them\n",
        ),
        (
            [],  # 4x4 digits: a 5x5 kernel has no room
            "error: model.filters = [32]: the feature maps shrink to nothing at convolution 1 "
            "(kernel 5, valid padding, pooling 2); use fewer convolutions, smaller kernels or "
            "same padding\n",
        ),
    ],
)
def test_images_that_do_not_fit_the_convolutions_are_one_error_line(checkout, overrides, message):
    result = sh(
        ["python", "-m", "digitnet.train", "experiment=tiny", "model=cnn", *overrides],
        checkout,
        check=False,
    )
    assert (result.returncode, result.stderr) == (2, message)


@pytest.mark.slow
@pytest.mark.parametrize("command", [[], ["--cfg", "job"], ["--help"], ["-m"]])
def test_a_bad_value_stops_the_app_with_one_line_and_exit_status_2_before_any_work(
    checkout, command
):
    result = sh(
        ["python", "-m", "digitnet.train", *command, "train.lr=-2", "hydra.run.dir=run"],
        checkout,
        check=False,
    )
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == "error: setting train.lr = -2.0 must be > 0\n"
    assert sorted(path.name for path in checkout.iterdir()) == ["conf", "data"]


UNKNOWN_TRAIN_KEY = (
    "error: unknown setting 'train.foo'; train has lr, epochs, batch_size, l2, optimizer, "
    "momentum, beta1, beta2, schedule, step_every, gamma, lr_min, patience, dtype, augment\n"
)
NO_PRESET = (
    "error: no preset experiment=nope; choose one of best, cnn, default, ng_ex4, tiny, tutorial\n"
)


def refused(tmp_path, monkeypatch, capsys, arguments):
    """(exit status, stderr) of the app given `arguments`, which must leave nothing behind."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["digitnet-train", *arguments])
    with pytest.raises(SystemExit) as exited:
        train.main()
    assert list(tmp_path.iterdir()) == []
    return exited.value.code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["train.foo=1"], UNKNOWN_TRAIN_KEY),
        (["-m", "train.foo=1,2"], UNKNOWN_TRAIN_KEY),
        (
            ["-cn", "config", "--info", "config", "--cfg", "job", "-p", "train", "train.foo=1"],
            UNKNOWN_TRAIN_KEY,
        ),
        (["experiment=nope"], NO_PRESET),
        (["-m", "experiment=tiny,nope"], NO_PRESET),
        (["sweep=nope"], "error: no preset sweep=nope; choose one of grid\n"),
        (["experiment=null"], NO_PRESET.replace("=nope", "=null")),
        (
            ["preset=best"],
            "error: preset is the name of the experiment= preset; choose it with experiment=\n",
        ),
        (
            ["+sweep=grid"],
            "error: +sweep=grid: write sweep=grid, without the + (sweep has a default)\n",
        ),
        (
            ["model.activation=Relu"],
            "error: setting model.activation = 'Relu': "
            "choose one of sigmoid, tanh, relu, leaky_relu, swish\n",
        ),
        (["train.epochs=abc"], "error: setting train.epochs = 'abc' must be a whole number\n"),
        (
            ["model.hidden_sizes=50"],
            "error: setting model.hidden_sizes must be a list: write model.hidden_sizes=[50]\n",
        ),
        (["train.lrr=0.1"], "error: unknown setting 'train.lrr'; did you mean train.lr?\n"),
        (
            ["model=cnn", "model.kernel_sizes=[5,3]"],
            "error: setting model.kernel_sizes = [5, 3] must give one kernel side per "
            "convolution in model.filters = [32]\n",
        ),
        (
            ["model=cnn", "model.padding=same", "model.kernel_sizes=[4]"],
            "error: setting model.kernel_sizes = [4] must all be odd for model.padding = same\n",
        ),
        (
            ["model=cnn", "model.padding=full"],
            "error: setting model.padding = 'full': choose one of valid, same\n",
        ),
    ],
)
def test_an_unknown_key_preset_or_name_on_the_command_line_is_refused_in_one_line(
    tmp_path, monkeypatch, capsys, arguments, message
):
    assert refused(tmp_path, monkeypatch, capsys, arguments) == (2, message)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["-m", "train.lr=0.5,0.1,-1"], "error: setting train.lr = -1.0 must be > 0\n"),
        (
            # lr_min = 0.2 suits train.lr=0.5 but not the job with train.lr=0.1
            ["-m", "train.lr=0.5,0.1", "train.lr_min=0.2"],
            "error: setting train.lr_min = 0.2 must lie in [0, train.lr = 0.1]\n",
        ),
        (
            # the grid of conf/sweep/grid.yaml has a job with train.lr=0.1 too
            ["sweep=grid", "train.lr_min=0.2"],
            "error: setting train.lr_min = 0.2 must lie in [0, train.lr = 0.1]\n",
        ),
    ],
)
def test_every_job_of_a_sweep_is_checked_before_the_first_starts(
    tmp_path, monkeypatch, capsys, arguments, message
):
    assert refused(tmp_path, monkeypatch, capsys, arguments) == (2, message)


def test_shell_completion_installs_hydras_bash_completion(tmp_path):
    result = sh(["python", "-m", "digitnet.train", "-sc", "install=bash"], tmp_path)
    assert (result.returncode, result.stderr) == (0, "")
    assert "hydra_bash_completion()" in result.stdout
    assert "-F hydra_bash_completion" in result.stdout


def test_help_says_what_the_app_does_and_lists_the_groups_presets_and_examples(tmp_path):
    result = sh(["digitnet", "train", "--help"], tmp_path)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.startswith("digitnet train: one experiment")
    groups = result.stdout.split("== Groups and presets ==")[1].split("== Settings ==")[0]
    assert "\nexperiment: best, cnn, default, ng_ex4, tiny, tutorial\n" in groups
    assert "\nmodel: cnn, mlp\n" in groups
    assert "\nsweep: grid\n" in groups and "\nhparams_search: optuna\n" in groups
    assert "\ntracking: server, sqlite\n" in groups
    assert "digitnet train experiment=best " in result.stdout
    assert "digitnet train sweep=grid hydra/launcher=joblib " in result.stdout
    assert "digitnet train hparams_search=optuna " in result.stdout
    assert "\n  activation: sigmoid\n" in result.stdout


def test_cfg_job_shows_the_preset_hydra_chose(tmp_path):
    result = sh(
        ["python", "-m", "digitnet.train", "--cfg", "job", "--resolve", "experiment=tiny"],
        tmp_path,
    )
    assert "\npreset: tiny\n" in result.stdout and result.stderr == ""


@pytest.mark.slow
@pytest.mark.parametrize("command", [["digitnet", "train"], ["digitnet-train"]], ids=" ".join)
def test_the_console_scripts_are_installed_and_compose_the_config(command, checkout):
    script = Path(sys.executable).parent / command[0]
    result = sh(
        [str(script), *command[1:], "--cfg", "job", "experiment=tiny", "train.lr=0.25"], checkout
    )
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


def test_a_sweep_without_its_workbook_stops_in_one_line_before_any_job(tmp_path):
    result = sh(["digitnet", "train", "-m", "train.lr=0.1,0.2"], tmp_path, check=False)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == "error: workbook not found: data/digits.xlsx\n"
    assert not (tmp_path / "mlflow.db").exists()  # no parent run was opened


def test_a_new_folder_name_takes_the_next_free_suffix(tmp_path):
    base = tmp_path / "outputs/2026-12-08/10-15-03"
    assert [rundirs.new_dir(base) for _ in range(3)] == [str(base), f"{base}_2", f"{base}_3"]
    assert all(Path(f"{base}{suffix}").is_dir() for suffix in ["", "_2", "_3"])


@pytest.mark.slow
def test_runs_started_in_the_same_second_each_train_and_score_in_a_folder_of_their_own(
    prepared,
):
    """The same folder name for all three (as three runs started in one second get): each run
    gets its own, and its MLflow run records its own weights and scores."""
    rates = ["0.02", "0.5", "3.0"]
    same = "hydra.run.dir=${digitnet.new_dir:outputs/same-second}"
    ended = started_together(
        prepared, *[["experiment=tiny", f"train.lr={lr}", same] for lr in rates]
    )
    assert [status for status, *_ in ended] == [0, 0, 0], ended
    folders = sorted(prepared.glob("outputs/same-second*"))
    assert [f.name for f in folders] == ["same-second", "same-second_2", "same-second_3"]
    client = MlflowClient(tracking_uri=f"sqlite:///{prepared / 'mlflow.db'}")
    seen = []
    for folder in folders:
        metrics = json.loads((folder / "eval/metrics.json").read_text())
        run = client.get_run(metrics["mlflow_run_id"])
        weights = hashlib.md5((folder / "model/weights.npz").read_bytes()).hexdigest()
        assert run.data.tags["weights_md5"] == weights
        assert run.data.metrics["val_accuracy"] == pytest.approx(metrics["val_accuracy"])
        assert run.data.params["train.lr"] in (folder / ".hydra/overrides.yaml").read_text()
        seen.append(run.data.params["train.lr"])
    assert sorted(seen) == sorted(rates)
