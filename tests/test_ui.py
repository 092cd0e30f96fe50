"""`digitnet ui`: the MLflow UI on the project's store, a port that is taken is one line."""

import socket
import subprocess

import pytest
from mlflow.tracking import MlflowClient

from digitnet import ui
from support import free_port, stop_group, tool_env, wait_for_url


def test_a_port_another_program_holds_is_one_line_naming_the_next_one(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = subprocess.run(
            ["digitnet", "ui", "--port", str(port)],
            cwd=tmp_path,
            env=tool_env(),
            capture_output=True,
            text=True,
        )
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        f"error: port {port} on 127.0.0.1 is taken by another program (on macOS, port 5000 by "
        f"the AirPlay receiver); choose another: digitnet ui --port {port + 1}\n"
    )
    assert list(tmp_path.iterdir()) == []  # no store made


def test_the_link_opens_the_experiments_runs_or_the_home_page_before_any(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    assert ui.runs_link("127.0.0.1", 5001, uri).startswith("http://127.0.0.1:5001/ (no runs yet")
    assert not (tmp_path / "mlflow.db").exists()  # looking made no store
    experiment = MlflowClient(uri).create_experiment(
        "digitnet", artifact_location=str(tmp_path / "mlruns")
    )
    assert ui.runs_link("127.0.0.1", 5001, uri) == (
        f"http://127.0.0.1:5001/#/experiments/{experiment}/runs?workflowType=machine_learning"
    )


@pytest.mark.slow
def test_the_ui_serves_the_project_store_until_stopped(tmp_path):
    port = free_port()
    process = subprocess.Popen(
        ["digitnet", "ui", "--port", str(port)],
        cwd=tmp_path,
        env=tool_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        first = process.stdout.readline()
        assert first.startswith(f"Runs of digitnet: http://127.0.0.1:{port}/")
        wait_for_url(f"http://127.0.0.1:{port}/health", process, seconds=60)
        assert (tmp_path / "mlflow.db").is_file()  # the store of the directory it ran in
    finally:
        stop_group(process)
        process.stdout.close()
