"""`digitnet stale`: its command line. What it marks is in tests/test_interrupts.py,
beside the killed processes that leave runs RUNNING."""

import pytest

from digitnet import stale
from digitnet.cli import load_config
from support import sh


@pytest.mark.parametrize("option", ["--help", "-h"])
def test_stale_answers_help_with_its_usage_and_examples(option, tmp_path):
    result = sh(["digitnet", "stale", option], tmp_path)
    assert result.stdout.startswith("usage: digitnet stale [-h] [KEY=VALUE ...]\n\n")
    assert "Mark the RUNNING MLflow runs whose process is gone as KILLED." in result.stdout
    assert "examples:\n" + "".join(f"  {e}\n" for e in stale.EXAMPLES) in result.stdout
    assert result.stderr == ""
    assert list(tmp_path.iterdir()) == []  # no store was opened


def test_an_unknown_option_of_stale_is_one_line_and_exit_status_2(tmp_path):
    result = sh(["digitnet", "stale", "--frobnicate"], tmp_path, check=False)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "error: unrecognized arguments: --frobnicate; see digitnet stale --help\n"
    )


def test_a_bad_setting_of_stale_is_one_line_and_exit_status_2(tmp_path):
    result = sh(["digitnet", "stale", "tracking.experimnt=x"], tmp_path, check=False)
    assert (result.returncode, result.stdout) == (2, "")
    assert (
        result.stderr
        == "error: unknown setting 'tracking.experimnt'; did you mean tracking.experiment?\n"
    )
    assert result.stderr.count("\n") == 1


def test_every_example_in_stales_help_is_valid_settings():
    for example in stale.EXAMPLES:
        assert example.startswith("digitnet stale")
        load_config(example.split()[2:])
