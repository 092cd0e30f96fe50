"""`digitnet ui`: the MLflow UI on this project's store, on 127.0.0.1, one process.

It is `mlflow ui` with the settings that suit one person's store: the UI alone (without
MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false MLflow also starts a job runner and seven workers
for GenAI jobs: 10 processes and 1.8 GB against 2 and 0.5 GB, docs/tracking.md), and a link
that opens the runs table rather than the GenAI pages.
"""

import argparse
import os
import socket
import sys
from pathlib import Path

from digitnet import cli, tracking

EXPERIMENT = "digitnet"  # conf/tracking: experiment


def parser():
    arguments = cli.Parser(
        prog="digitnet ui",
        description="Open the MLflow UI on this project's runs (mlflow.db), until Ctrl-C.",
        epilog=(
            "examples:\n  digitnet ui\n  digitnet ui --port 5001     "
            "# when 5000 is taken (on macOS, by the AirPlay receiver)"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    arguments.add_argument("--port", type=int, default=5000, help="default 5000")
    arguments.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1, this machine")
    return arguments


def main(argv=None):
    args = parser().parse_args(sys.argv[1:] if argv is None else argv)
    uri = tracking.tracking_uri()
    if not uri.startswith("sqlite:///"):
        cli.fail(f"MLFLOW_TRACKING_URI is {uri}: open that server in a browser instead")
    check_port_free(args.host, args.port)
    print(f"Runs of digitnet: {runs_link(args.host, args.port, uri)}", flush=True)
    command = [sys.executable, "-m", "mlflow", "ui", "--host", args.host, "--port", str(args.port)]
    command += ["--workers", "1", "--backend-store-uri", uri, "--registry-store-uri", uri]
    environment = os.environ | {
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        # MLflow's own server imports a module Starlette deprecates: not ours to fix.
        "PYTHONWARNINGS": "ignore:starlette.middleware.wsgi is deprecated",
    }
    os.execve(sys.executable, command, environment)


def check_port_free(host, port):
    """One line, not a server's traceback, when another program holds the port."""
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError:
            cli.fail(
                f"port {port} on {host} is taken by another program (on macOS, port 5000 by "
                f"the AirPlay receiver); choose another: digitnet ui --port {port + 1}"
            )


def runs_link(host, port, uri):
    """The address of the runs table of the experiment, or the home page before the first run."""
    experiment = None
    if Path(uri.removeprefix("sqlite:///")).is_file():  # else MLflow would make the store now
        from mlflow.tracking import MlflowClient

        experiment = MlflowClient(uri).get_experiment_by_name(EXPERIMENT)
    if experiment is None:
        return f"http://{host}:{port}/ (no runs yet: make run, or digitnet train, records some)"
    return f"http://{host}:{port}/#/experiments/{experiment.experiment_id}/runs?workflowType=machine_learning"
