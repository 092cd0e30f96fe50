"""The team's set-up of docs/cluster.md, for real: a PostgreSQL server of this test's own,
`mlflow server --app-name basic-auth` on it with proxied artifacts, an admin who creates the
users, and digitnet's sweep, promote and predict run through it as one of them."""

import os
import pwd
import secrets
import shutil
import subprocess
import sys
import tempfile
import warnings
from contextlib import contextmanager
from pathlib import Path

import mlflow
import pytest

from support import free_port, stop_group, tool_env, wait_for_line, wait_for_url

pytestmark = [pytest.mark.cluster, pytest.mark.slow]  # make test-cluster installs PostgreSQL

DIGITNET = str(Path(sys.executable).parent / "digitnet")
MLFLOW = str(Path(sys.executable).parent / "mlflow")
ADMIN, ADMIN_PASSWORD = "admin", secrets.token_urlsafe(16)
ALICE, ALICE_PASSWORD = "alice", secrets.token_urlsafe(16)  # EDIT on the experiment
BOB, BOB_PASSWORD = "bob", secrets.token_urlsafe(16)  # READ only
DB_PASSWORD = secrets.token_urlsafe(16)


def postgres_bin():
    """The directory of PostgreSQL's server programs (Debian's, the newest), or None."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def as_owner():
    """Popen's arguments that run PostgreSQL as its own user: it refuses to run as root."""
    if os.geteuid() != 0:
        return {}
    name = "postgres" if "postgres" in {u.pw_name for u in pwd.getpwall()} else "nobody"
    user = pwd.getpwnam(name)
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


@pytest.fixture
def postgres():
    """A PostgreSQL server on 127.0.0.1 with a role and database `mlflow`, started here and
    stopped at the end; yields its URI. Its directory is not below pytest's tmp_path, which
    another user may not enter."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        missing = "no PostgreSQL server here: make postgres (Debian: apt-get install postgresql)"
        if os.environ.get("CI"):
            pytest.fail(missing)  # make test-cluster installs it: in CI, a skip would hide that
        pytest.skip(missing)
    owner = as_owner()
    directory = Path(tempfile.mkdtemp(prefix="digitnet-pg-"))
    (directory / "password").write_text(DB_PASSWORD + "\n")
    for path in (directory, directory / "password"):
        os.chown(path, owner.get("user", -1), owner.get("group", -1))
    data, port = directory / "data", free_port()
    initdb = [str(bin_dir / "initdb"), "-D", str(data), "-U", "mlflow", "-A", "scram-sha-256"]
    initdb += ["--pwfile", str(directory / "password"), "-E", "UTF8", "--locale", "C", "-N"]
    subprocess.run(initdb, check=True, capture_output=True, **owner)
    log = directory / "postgres.log"
    with open(log, "wb") as out:
        os.chown(log, owner.get("user", -1), owner.get("group", -1))
        server = subprocess.Popen(
            [str(bin_dir / "postgres"), "-D", str(data), "-h", "127.0.0.1", "-p", str(port)]
            + ["-k", str(directory)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            **owner,
        )
    try:
        wait_for_line(log, "ready to accept connections", server, 60, "PostgreSQL")
        # docs/cluster.md: createdb -O mlflow mlflow, as the role mlflow with its password
        subprocess.run(
            [str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "mlflow"]
            + ["-O", "mlflow", "mlflow"],
            check=True,
            env={**os.environ, "PGPASSWORD": DB_PASSWORD},
        )
        yield f"postgresql://mlflow:{DB_PASSWORD}@127.0.0.1:{port}/mlflow"
    finally:
        stop_group(server)
        shutil.rmtree(directory, ignore_errors=True)


@contextmanager
def team_server(directory, database):
    """`mlflow server --app-name basic-auth` on 127.0.0.1 as docs/cluster.md starts it, runs and
    users in `database`, artifacts proxied into directory/artifacts; yields its base URL."""
    shipped = (Path(mlflow.__file__).parent / "server/auth/basic_auth.ini").read_text()
    config = directory / "basic_auth.ini"
    config.write_text(
        shipped.replace("database_uri = sqlite:///basic_auth.db", f"database_uri = {database}")
    )
    port, log = free_port(), directory / "server.log"
    env = tool_env(
        MLFLOW_FLASK_SERVER_SECRET_KEY=secrets.token_hex(32),
        MLFLOW_AUTH_CONFIG_PATH=str(config),
        MLFLOW_AUTH_ADMIN_PASSWORD=ADMIN_PASSWORD,
        MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false",  # GenAI jobs: none here (docs/tracking.md)
    )
    for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        env.pop(name, None)
    command = [MLFLOW, "server", "--app-name", "basic-auth", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--workers", "1", "--backend-store-uri", database]
    command += ["--artifacts-destination", str(directory / "artifacts"), "--serve-artifacts"]
    with open(log, "wb") as out:
        process = subprocess.Popen(
            command,
            cwd=directory,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_url(f"{base}/health", process, seconds=180, log=log)
        yield base
    finally:
        stop_group(process)


def digitnet(checkout, *args, user=ALICE, password=ALICE_PASSWORD, server):
    """A digitnet command as `user` in its own process group; (exit status, stdout, stderr)."""
    env = tool_env(
        MLFLOW_TRACKING_URI=server, MLFLOW_TRACKING_USERNAME=user, MLFLOW_TRACKING_PASSWORD=password
    )
    process = subprocess.Popen(
        [DIGITNET, *args],
        cwd=checkout,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=300)
    finally:
        stop_group(process)
    return process.returncode, out, err


def one_line(err):
    """The single `error: ` line a user error prints, and nothing else."""
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err.removeprefix("error: ").rstrip("\n")


def auth_client(server):
    """MLflow's client of the basic-auth app, for the user of MLFLOW_TRACKING_USERNAME."""
    from mlflow.server import get_app_client

    # Its package imports starlette.middleware.wsgi, which starlette has deprecated.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "starlette.middleware.wsgi is deprecated")
        return get_app_client("basic-auth", tracking_uri=server)


# The commands of docs/cluster.md, as the test runs them; the sweep on the tiny preset.
SWEEP = ["train", "-m", "train.lr=0.5,1.0", "hydra/launcher=joblib", "tracking=server"]
TINY_SWEEP = [*SWEEP[:2], "experiment=tiny", *SWEEP[2:]]  # as the test runs it
PROMOTE = ["promote"]
PREDICT = ["predict", "models:/digits@champion", "data/digits.xlsx"]
WRONG_PASSWORD = (
    "the MLflow server {server} refused the password of user alice (HTTP 401): "
    "set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD to your account there"
)
READ_ONLY = (
    "the MLflow server {server} denied user bob permission for this (HTTP 403): ask its admin "
    "for EDIT on the experiment, or set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD "
    "to an account that has it"
)


def test_a_team_sweeps_promotes_and_predicts_through_a_server_on_postgresql(
    postgres, checkout, tmp_path, monkeypatch
):
    from mlflow.tracking import MlflowClient

    server_dir = tmp_path / "server"
    server_dir.mkdir()
    with team_server(server_dir, postgres) as server:
        # The admin creates the experiment and the users (docs/cluster.md): alice may log runs
        # there, bob has the default_permission of basic_auth.ini, READ.
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", ADMIN)
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", ADMIN_PASSWORD)
        auth = auth_client(server)
        admin = MlflowClient(tracking_uri=server)
        experiment = admin.create_experiment("digitnet")
        auth.create_user(ALICE, ALICE_PASSWORD)
        auth.grant_user_permission(ALICE, "experiment", experiment, "EDIT")
        auth.create_user(BOB, BOB_PASSWORD)

        status, out, err = digitnet(checkout, *TINY_SWEEP, server=server)
        assert status == 0, out + err
        assert "all 2 jobs finished" in out + err
        runs = admin.search_runs([experiment], max_results=100)
        assert {run.info.status for run in runs} == {"FINISHED"}
        assert {run.data.tags["mlflow.user"] for run in runs} == {ALICE}
        children = [run for run in runs if "mlflow.parentRunId" in run.data.tags]
        assert len(runs) == 3 and len(children) == 2  # the sweep's parent run and its 2 jobs
        # The runs are in PostgreSQL, under alice's name; their files in the server's store.
        import psycopg  # the cluster extras' driver: make test collects this file without it

        with psycopg.connect(postgres) as connection:
            rows = connection.execute("SELECT user_id, status FROM runs").fetchall()
        assert rows == [(ALICE, "FINISHED")] * 3
        assert len(list((server_dir / "artifacts").rglob("metrics.json"))) == 2

        status, out, err = digitnet(checkout, *PROMOTE, server=server)
        assert status == 0, out + err
        best = max(
            children, key=lambda r: (r.data.metrics["val_accuracy"], -int(r.data.tags["job"]))
        )
        champion = admin.get_model_version_by_alias("digits", "champion")
        assert champion.run_id == best.info.run_id
        assert out.startswith(f"promote: {best.info.run_name} (run {best.info.run_id}, ")
        assert out.endswith(
            f"→ digits version {champion.version}, alias champion: models:/digits@champion\n"
        )

        # READ is enough to use the champion.
        status, out, err = digitnet(
            checkout, *PREDICT, user=BOB, password=BOB_PASSWORD, server=server
        )
        assert status == 0, out + err
        predicted = (checkout / "predictions/digits.predictions.csv").read_text().splitlines()
        assert len(predicted) == 1 + 80  # a header and the 80 tiny digits

        # A wrong password: one line that names the server and what to set.
        for command in (TINY_SWEEP, ["train", "experiment=tiny"], PROMOTE, PREDICT):
            status, out, err = digitnet(checkout, *command, password="wrong", server=server)
            assert (status, one_line(err)) == (2, WRONG_PASSWORD.format(server=server)), command
        # READ alone: bob can log no run, in a sweep or alone.
        for command in (TINY_SWEEP, ["train", "experiment=tiny"]):
            status, out, err = digitnet(
                checkout, *command, user=BOB, password=BOB_PASSWORD, server=server
            )
            assert (status, one_line(err)) == (2, READ_ONLY.format(server=server)), command
        assert len(admin.search_runs([experiment], max_results=100)) == 3
        assert admin.get_model_version_by_alias("digits", "champion").version == champion.version


def test_the_cluster_page_shows_the_commands_this_test_runs():
    page = (Path(__file__).resolve().parents[1] / "docs/cluster.md").read_text()
    for command in (SWEEP, PROMOTE, PREDICT):
        assert f"digitnet {' '.join(command)}" in page
    for option in ("--app-name basic-auth", "--artifacts-destination", "--serve-artifacts"):
        assert option in page
    assert 'get_app_client("basic-auth"' in page and "grant_user_permission(" in page
    assert "'psycopg[binary]'" in page  # SQLAlchemy 2.1's driver for postgresql://
    for line in (WRONG_PASSWORD, READ_ONLY):
        assert "error: " + line.format(server="https://mlflow.internal") in page
