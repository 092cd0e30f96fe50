"""Scale figures for docs/cluster.md: a 64-job sweep's throughput on joblib and on a Ray head with
1 and 2 workers, all logging to one `mlflow server`, and that server's capacity with 1, 2, 4 and
8 concurrent clients.

    .venv/bin/python benchmarks/scale.py         (about 6 minutes; needs '.[ray]')

Everything runs on 127.0.0.1, in a temporary copy of conf/ and the sample workbook: an
`mlflow server` (SQLite backend, proxied artifact store) and, per Ray figure, a `ray start --head`
with --num-cpus 1 or 2 (one job per CPU), each stopped by its process group id. The server's CPU
time per job, read from /proc, is what each job costs the shared server.
"""

import json
import multiprocessing
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# 4 x 8 x 2 = 64 short jobs (5 epochs on the sample: the job's fixed costs dominate).
GRID = [
    "model.hidden_sizes=[10],[20],[30],[40]",
    "train.lr=0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8",
    "train.l2=0,0.5",
    "train.epochs=5",
]
N_JOBS = 64
CLIENTS = (1, 2, 4, 8)
PHASE_S = 6.0  # each load phase runs this long per client count (and at most MAX_CALLS calls)
MAX_CALLS = 2000
POINTS_PER_BATCH = 1000  # MlflowClient.log_batch sends at most 1000 metrics per request
RAY_ENV = {
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",  # keep every Ray address on 127.0.0.1
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0",
    "RAY_AUTH_MODE": "token",
    "RAY_AUTH_TOKEN": secrets.token_hex(32),
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env(**extra):
    environment = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
    environment.pop("MLFLOW_TRACKING_URI", None)
    environment.pop("RAY_ADDRESS", None)
    return environment | extra


def start(args, cwd, log, **extra_env):
    return subprocess.Popen(
        args,
        cwd=cwd,
        env=env(**extra_env),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(process, seconds=20):
    """SIGTERM to the process group, SIGKILL to what is left after `seconds`."""
    os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        process.poll()
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def group_cpu_seconds(pgid):
    """User + system CPU time of every live process in group `pgid`."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # fields after the name: state ppid pgrp ...
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def wait_until(check, what, seconds=90):
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"error: {what} not ready after {seconds} s")
        time.sleep(0.3)


def answers(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def mlflow_server(directory):
    port = free_port()
    log = open(directory / "server.log", "wb")
    process = start(
        [
            str(BIN / "mlflow"),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "2",
            "--backend-store-uri",
            f"sqlite:///{directory / 'server.db'}",
            "--artifacts-destination",
            str(directory / "artifacts"),
        ],
        directory,
        log,
    )
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: answers(f"{base}/health"), "mlflow server")
    return process, base


def ray_head(directory, cpus):
    """`ray start --head` on 127.0.0.1 with `cpus` CPUs; its process and address."""
    port = free_port()
    log_file = directory / f"head{cpus}.log"
    temp = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))
    process = start(
        [
            str(BIN / "ray"),
            "start",
            "--head",
            "--block",
            "--node-ip-address=127.0.0.1",
            f"--port={port}",
            f"--num-cpus={cpus}",
            "--object-store-memory=100000000",
            "--include-dashboard=false",
            "--disable-usage-stats",
            f"--temp-dir={temp}",
            f"--ray-client-server-port={free_port()}",
            f"--dashboard-port={free_port()}",
            f"--dashboard-agent-listen-port={free_port()}",
            f"--metrics-export-port={free_port()}",
        ],
        directory,
        open(log_file, "wb"),
        **RAY_ENV,
    )
    wait_until(lambda: "Ray runtime started" in log_file.read_text(errors="replace"), "Ray head")
    return process, f"127.0.0.1:{port}", temp


def sweep(project, name, server, *launcher, **extra_env):
    """Run the 64-job sweep; its wall time, the jobs' mean seconds, the server's CPU seconds."""
    server_process, base = server
    args = [sys.executable, "-m", "digitnet.train", "-m", *GRID, *launcher]
    args += ["tracking=server", f"tracking.uri={base}", f"hydra.sweep.dir={name}"]
    cpu_before = group_cpu_seconds(server_process.pid)
    started = time.perf_counter()
    result = subprocess.run(args, cwd=project, env=env(**extra_env), capture_output=True)
    wall = time.perf_counter() - started
    server_cpu = group_cpu_seconds(server_process.pid) - cpu_before
    if result.returncode != 0:
        raise SystemExit(f"error: sweep {name} failed:\n{result.stdout.decode()[-3000:]}")
    records = [json.loads(p.read_text()) for p in (project / name).glob("*/job.json")]
    assert len(records) == N_JOBS and all(r["status"] == "FINISHED" for r in records), name
    return {
        "wall_s": round(wall, 1),
        "jobs_per_s": round(N_JOBS / wall, 2),
        "job_s_mean": round(statistics.mean(r["seconds"] for r in records), 2),
        "server_cpu_s_per_job": round(server_cpu / N_JOBS, 3),
    }


def client_load(base, phase, experiment_id, barrier, results):
    """One client: runs (create, params + tags, end) or metric batches, for PHASE_S seconds."""
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    sys.stdout = open(os.devnull, "w")  # set_terminated prints "View run ..." for every run
    client = MlflowClient(tracking_uri=base)
    run_id = client.create_run(experiment_id).info.run_id
    params = [Param(f"p{i}", str(i)) for i in range(10)]
    tags = [RunTag("sweep_id", "load"), RunTag("job", "0")]
    barrier.wait()
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < PHASE_S and done < MAX_CALLS:
        if phase == "runs":
            run = client.create_run(experiment_id).info.run_id
            client.log_batch(run, params=params, tags=tags)
            client.set_terminated(run)
        else:
            stamp = int(time.time() * 1000)
            offset = done * POINTS_PER_BATCH
            batch = [
                Metric("cost", 1.0 / (step + 1), stamp, step)
                for step in range(offset, offset + POINTS_PER_BATCH)
            ]
            client.log_batch(run_id, metrics=batch)
        done += 1
    results.put((done, time.perf_counter() - started))


def server_capacity(base):
    """Runs per second and metric points per second with N concurrent clients."""
    from mlflow.tracking import MlflowClient

    experiment_id = MlflowClient(tracking_uri=base).create_experiment("load")
    context = multiprocessing.get_context("spawn")
    figures = []
    for n_clients in CLIENTS:
        row = {"clients": n_clients}
        for phase in ("runs", "points"):
            barrier, results = context.Barrier(n_clients), context.Queue()
            workers = [
                context.Process(
                    target=client_load, args=(base, phase, experiment_id, barrier, results)
                )
                for _ in range(n_clients)
            ]
            for worker in workers:
                worker.start()
            counts = [results.get(timeout=120) for _ in workers]
            for worker in workers:
                worker.join(timeout=30)
            calls = sum(done for done, _ in counts)
            seconds = max(elapsed for _, elapsed in counts)
            if phase == "runs":
                row["runs_per_s"] = round(calls / seconds, 1)
            else:
                row["points_per_s"] = round(calls * POINTS_PER_BATCH / seconds)
        figures.append(row)
        print(f"server, {n_clients} client(s): {row}", flush=True)
    return figures


def main():
    workbook = ROOT / "data" / "digits.xlsx"
    if not workbook.is_file():
        subprocess.run([sys.executable, "-m", "digitnet.sample"], cwd=ROOT, check=True)
    figures = {"cpus": os.cpu_count(), "jobs": N_JOBS, "grid": GRID}
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        shutil.copytree(ROOT / "conf", project / "conf")
        (project / "data").mkdir()
        shutil.copy(workbook, project / "data" / "digits.xlsx")
        for stage in ("ingest", "preprocess"):
            module = f"digitnet.stages.{stage}"
            subprocess.run([sys.executable, "-m", module], cwd=project, check=True, env=env())
        (project / "server").mkdir()
        server = mlflow_server(project / "server")
        try:
            figures["joblib_2"] = sweep(
                project, "joblib", server, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2"
            )
            print(f"joblib, 2 workers: {figures['joblib_2']}", flush=True)
            for cpus in (1, 2):
                head, address, temp = ray_head(project, cpus)
                try:
                    figures[f"ray_{cpus}"] = sweep(
                        project,
                        f"ray{cpus}",
                        server,
                        "hydra/launcher=ray",
                        **RAY_ENV,
                        RAY_ADDRESS=address,
                    )
                finally:
                    stop(head)
                    shutil.rmtree(temp, ignore_errors=True)
                print(f"ray, {cpus} worker(s): {figures[f'ray_{cpus}']}", flush=True)
            figures["server"] = server_capacity(server[1])
        finally:
            stop(server[0])
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
