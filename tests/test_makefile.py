"""The Makefile's set-up: a Python too old is one clear line; the UI's port can be chosen."""

import shutil
import subprocess

from support import ROOT


def make(tmp_path, *arguments):
    """`make ARGUMENTS` with this project's Makefile in an empty directory (nothing installed)."""
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    for name in ("pyproject.toml", "requirements.lock"):
        (tmp_path / name).write_text("")
    return subprocess.run(
        ["make", "--no-print-directory", *arguments], cwd=tmp_path, capture_output=True, text=True
    )


def old_python(tmp_path):
    """An interpreter that answers as Python 3.9 does to what the Makefile asks it."""
    fake = tmp_path / "python3.9"
    fake.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = "-V" ]; then echo "Python 3.9.18"; exit 0; fi\n'
        'case "$2" in *version_info\\ \\<*) exit 1;; *) echo 3.9;; esac\n'
    )
    fake.chmod(0o755)
    return fake


def test_a_python_older_than_3_11_stops_set_up_with_one_line_naming_the_fix(tmp_path):
    fake = old_python(tmp_path)
    result = make(tmp_path, "install", f"PYTHON={fake}")
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: digitnet needs Python 3.11 or newer, and {fake} is Python 3.9.18; "
        "choose another, e.g. make PYTHON=python3.12 run"
    ]
    assert not (tmp_path / ".venv").exists()


def test_the_ui_port_is_a_make_variable(tmp_path):
    result = make(tmp_path, "-n", "ui", "PORT=5123")
    assert "digitnet ui --port 5123" in result.stdout


def test_the_tools_usage_reports_are_off():
    text = (ROOT / "Makefile").read_text()
    assert "export DVC_NO_ANALYTICS := 1" in text
    assert "export MLFLOW_DISABLE_TELEMETRY := true" in text
