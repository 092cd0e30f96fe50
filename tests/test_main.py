"""`digitnet`: one command whose subcommands are everything a user runs; each answers --help."""

import subprocess
import sys
from pathlib import Path

import pytest

from digitnet.__main__ import COMMANDS
from digitnet.stages import STAGES
from support import sh, tool_env


def test_help_lists_every_command_with_what_it_does(tmp_path):
    result = sh(["digitnet", "--help"], tmp_path)
    assert result.stdout.startswith("usage: digitnet [-h] COMMAND [ARGUMENTS ...]\n")
    for name, (_, about) in COMMANDS.items():
        assert f"\n  {name:<9} {about}\n" in result.stdout
    assert sh(["digitnet"], tmp_path).stdout == result.stdout  # no command: the same help


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_answers_help_without_running_anything(name, tmp_path):
    result = sh(["digitnet", name, "--help"], tmp_path)
    assert result.stderr == ""
    first_line = result.stdout.splitlines()[0]
    # train's help is Hydra's, from conf/hydra/help/digitnet.yaml; the others are argparse's
    assert first_line.startswith(f"usage: digitnet {name} ") or first_line.startswith(
        f"digitnet {name}: "
    )
    assert "example" in result.stdout.lower()
    assert list(tmp_path.iterdir()) == []  # nothing written: no store, no outputs/


@pytest.mark.parametrize("stage", STAGES)
def test_every_stage_answers_help_through_digitnet_stage(stage, tmp_path):
    result = sh(["digitnet", "stage", stage, "--help"], tmp_path)
    assert result.stdout.startswith(f"usage: digitnet stage {stage} [-h] [KEY=VALUE ...]\n")
    assert list(tmp_path.iterdir()) == []


def test_stage_help_lists_the_stages_in_the_pipelines_order(tmp_path):
    result = sh(["digitnet", "stage", "--help"], tmp_path)
    listed = [
        line.split()[0]
        for line in result.stdout.split("stages:\n")[1].split("\n\n")[0].splitlines()
    ]
    assert listed == list(STAGES) == ["ingest", "preprocess", "train", "evaluate"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["digitnet", "trian"],
            "error: unknown command 'trian'; choose one of "
            f"{', '.join(COMMANDS)} (digitnet --help)\n",
        ),
        (
            ["digitnet", "stage", "ingets"],
            "error: unknown stage 'ingets'; choose one of "
            "ingest, preprocess, train, evaluate (digitnet stage --help)\n",
        ),
    ],
    ids=["command", "stage"],
)
def test_an_unknown_command_is_one_line_and_exit_status_2(argv, message, tmp_path):
    result = sh(argv, tmp_path, check=False)
    assert (result.returncode, result.stdout, result.stderr) == (2, "", message)


@pytest.mark.parametrize(
    "alias, usage",
    [
        (["digitnet-sample"], "usage: digitnet sample "),
        ([sys.executable, "-m", "digitnet.stages.ingest"], "usage: digitnet stage ingest "),
        ([sys.executable, "-m", "digitnet.stale"], "usage: digitnet stale "),
        ([sys.executable, "-m", "digitnet.train"], "digitnet train: "),
    ],
    ids=lambda v: Path(v[-1]).name if isinstance(v, list) else None,
)
def test_the_earlier_commands_remain_as_aliases(alias, usage, tmp_path):
    result = sh([*alias, "--help"], tmp_path)
    assert result.stdout.startswith(usage)


def test_a_reader_that_stops_early_gets_no_traceback(tmp_path):
    with subprocess.Popen(
        ["digitnet", "train", "--help"],
        cwd=tmp_path,
        env=tool_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as command:
        command.stdout.close()  # as `| head -1` does once it has its line
        assert command.stderr.read() == b""
        assert command.wait() in (0, 1)
