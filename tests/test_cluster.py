"""Sweeps beyond one process, for real: a Ray head and an `mlflow server` on 127.0.0.1, Ray's
local mode, and submitit's local rehearsal of SLURM."""

import csv
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from mlflow.tracking import MlflowClient

from digitnet import sweep
from digitnet.errors import DigitnetError
from support import (
    ROOT,
    TINY_EPOCHS,
    free_port,
    mlflow_server,
    stop_group,
    tool_env,
    wait_for_line,
)

pytestmark = pytest.mark.cluster  # make test-cluster: needs the ray and slurm extras

LOOPBACK_RAY = {
    # Ray would otherwise advertise this machine's network address instead of 127.0.0.1.
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_USAGE_STATS_ENABLED": "0",
    # Token authentication, as on a shared cluster, with a token of this run's own: Ray would
    # otherwise generate one into ~/.ray/auth_token.
    "RAY_AUTH_MODE": "token",
    "RAY_AUTH_TOKEN": secrets.token_hex(32),
}


def launcher(name):
    """The composed hydra.launcher node of conf/hydra/launcher/<name>.yaml."""
    # Hydra warns that conf/hydra/launcher/<name>.yaml is checked against the plugin's schema of
    # the same name, a matching deprecated since Hydra 1.1; every launcher sweep prints it too.
    # It goes away when those files extend the schema by their defaults list instead.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "(?s).*validated against ConfigStore", UserWarning)
        with initialize_config_dir(str(ROOT / "conf"), version_base=None):
            config = compose("config", [f"hydra/launcher={name}"], return_hydra_config=True)
    return config.hydra.launcher


def test_the_ray_launcher_neither_retries_jobs_nor_sizes_a_clusters_object_store():
    ray = launcher("ray").ray
    assert ray.remote.max_retries == 0  # a retried job would be a second MLflow run
    assert ray.remote.num_cpus == 1
    assert "object_store_memory" in ray.init and ray.init.object_store_memory is None
    assert ray.init.address is None  # RAY_ADDRESS picks the cluster, else a local instance
    hook = ray.init.runtime_env.worker_process_setup_hook
    assert hook == "digitnet.sweep.enter_launch_dir"


def test_slurm_jobs_take_one_core_and_are_never_resubmitted():
    slurm = launcher("submitit_slurm")
    assert slurm.cpus_per_task == 1
    assert slurm.max_num_timeout == 0
    assert slurm._target_.endswith("SlurmLauncher")
    assert launcher("submitit_local")._target_.endswith("LocalLauncher")


def test_a_ray_worker_moves_into_the_directory_the_sweep_was_launched_from(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "project").mkdir()
    monkeypatch.setenv(sweep.LAUNCH_DIR_VAR, str(tmp_path / "project"))
    sweep.enter_launch_dir()
    assert Path.cwd() == tmp_path / "project"


def test_a_ray_node_without_the_launch_directory_says_so(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(sweep.LAUNCH_DIR_VAR, str(tmp_path / "elsewhere"))
    with pytest.raises(DigitnetError) as raised:
        sweep.enter_launch_dir()
    assert str(raised.value) == (
        f"the sweep was launched from {tmp_path / 'elsewhere'}, which node "
        f"{socket.gethostname()} does not have: "
        "every Ray node must see the project at the same path"
    )
    assert Path.cwd() == tmp_path


@pytest.fixture
def short_tmp():
    """A directory with a short path: Ray's sockets live below its temp dir (108-byte limit)."""
    path = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def ray_head(tmp_path, short_tmp):
    """`ray start --head` on 127.0.0.1 with 2 CPUs, started in its own directory and process
    group; yields (address, that directory); stopped by its process id."""
    directory = tmp_path / "head"
    directory.mkdir()
    port = free_port()
    ports = {
        "--ray-client-server-port": free_port(),
        "--dashboard-port": free_port(),
        "--dashboard-agent-listen-port": free_port(),
        "--metrics-export-port": free_port(),
    }
    log_file = tmp_path / "head.log"
    with open(log_file, "wb") as log:
        process = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "ray"),
                "start",
                "--head",
                "--block",
                "--node-ip-address=127.0.0.1",
                f"--port={port}",
                "--num-cpus=2",
                "--object-store-memory=100000000",
                "--include-dashboard=false",
                "--disable-usage-stats",
                f"--temp-dir={short_tmp}",
                *(f"{flag}={value}" for flag, value in ports.items()),
            ],
            cwd=directory,
            env=tool_env(**LOOPBACK_RAY, RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S="0"),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for_line(log_file, "Ray runtime started", process, 90, "the Ray head")
        yield f"127.0.0.1:{port}", directory
    finally:
        stop_group(process)


def run_sweep(checkout, *overrides, **env):
    """The sweep as a user runs it, in its own process group (stopped whatever happens)."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "digitnet.train",
            "-m",
            "experiment=tiny",
            "hydra.sweep.dir=sweep",
            *overrides,
        ],
        cwd=checkout,
        env=tool_env(**LOOPBACK_RAY, **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=300)
    finally:
        stop_group(process)
    assert process.returncode == 0, output
    return output


def runs(uri, experiment="digitnet"):
    client = MlflowClient(tracking_uri=uri)
    found = client.get_experiment_by_name(experiment)
    everything = client.search_runs([found.experiment_id], max_results=1000)
    parents = [r for r in everything if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in everything if "mlflow.parentRunId" in r.data.tags]
    return client, parents, children


def assert_complete(client, parents, children, n_jobs):
    (parent,) = parents
    assert parent.info.status == "FINISHED"
    assert len(children) == n_jobs  # no job retried into a second run
    assert sorted(int(c.data.tags["job"]) for c in children) == list(range(n_jobs))
    for child in children:
        assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert child.info.status == "FINISHED"
        history = client.get_metric_history(child.info.run_id, "cost")
        assert sorted(m.step for m in history) == list(range(1, TINY_EPOCHS + 1))
        assert {"train_accuracy", "val_accuracy", "test_accuracy"} <= set(child.data.metrics)


@pytest.mark.slow
def test_a_sweep_on_a_ray_cluster_logs_every_run_to_the_mlflow_server(checkout, ray_head, tmp_path):
    address, head_dir = ray_head
    server_dir = tmp_path / "server"
    server_dir.mkdir()
    with mlflow_server(
        server_dir,
        f"sqlite:///{server_dir / 'mlflow.db'}",
        "--artifacts-destination",
        str(server_dir / "artifacts"),
    ) as base:
        output = run_sweep(
            checkout,
            "hydra/launcher=ray",
            "tracking=server",
            f"tracking.uri={base}",
            "model.hidden_sizes=[5],[10]",
            "train.lr=0.5,1.0",
            RAY_ADDRESS=address,
        )
        client, parents, children = runs(base)
        assert_complete(client, parents, children, 4)
        for child in children:
            logged = {a.path for a in client.list_artifacts(child.info.run_id, "evaluation")}
            assert "evaluation/metrics.json" in logged
    assert f"Connecting to existing Ray cluster at address: {address}" in output
    assert "all 4 jobs finished" in output
    with open(checkout / "sweep/summary.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == 4
    assert len(list((server_dir / "artifacts").rglob("metrics.json"))) == 4
    assert not (checkout / "mlflow.db").exists()  # every run went to the server
    assert list(head_dir.iterdir()) == []  # nothing resolved against the head's directory


def ray_processes_under(directory):
    """Pids of processes whose command line names `directory` (Ray's own temp dir)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if str(directory) in cmdline.read_bytes().decode(errors="replace"):
                found.append(int(cmdline.parent.name))
        except OSError:
            pass
    return found


@pytest.mark.slow
def test_without_a_cluster_the_ray_launcher_starts_and_stops_its_own(checkout, short_tmp):
    output = run_sweep(
        checkout,
        "hydra/launcher=ray",
        f"+hydra.launcher.ray.init._temp_dir={short_tmp}",
        "train.lr=0.5,1.0",
    )
    assert "Started a local Ray instance" in output
    assert_complete(*runs(f"sqlite:///{checkout / 'mlflow.db'}"), 2)
    assert ray_processes_under(short_tmp) == []


@pytest.mark.slow
def test_the_slurm_launcher_rehearses_locally_with_submitit(checkout):
    output = run_sweep(checkout, "hydra/launcher=submitit_local", "train.lr=0.5,1.0")
    assert "Submitit 'local' sweep output dir" in output
    assert_complete(*runs(f"sqlite:///{checkout / 'mlflow.db'}"), 2)
    assert len(list((checkout / "sweep/.submitit").glob("*/*_log.out"))) == 2
