"""MLflow at the edge: the only module that imports it, logging in batches through MlflowClient.

The train stage creates a run and ends it; the evaluate stage, another process, adds its scores
and figures to the same run. So everything goes through explicit run ids rather than MLflow's
process-global active run.
"""

import errno
import fcntl
import functools
import hashlib
import logging
import os
import shutil
import socket
import sqlite3
import time
import warnings
from contextlib import contextmanager, suppress
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

from digitnet import provenance
from digitnet.errors import StoreError


def tracking_uri(configured=None, root=None):
    """MLFLOW_TRACKING_URI, else the configured uri, else sqlite:///<root>/mlflow.db (absolute).

    The root is the project's: DVC sets DVC_ROOT to the main checkout for every stage, also when
    `dvc exp run --queue` runs it in a temporary copy, so queued experiments land in the project's
    store rather than in a copy that is deleted afterwards. Otherwise it is the working directory.
    """
    if env := os.environ.get("MLFLOW_TRACKING_URI"):
        return env
    if configured:
        return configured
    return f"sqlite:///{Path(root).resolve() if root else project_root()}/mlflow.db"


def store_uri(settings):
    """The store that `settings` (config.tracking) names, as `tracking_uri`; a busy SQLite store
    is then waited for settings.busy_timeout seconds by every call of this process."""
    global busy_timeout
    busy_timeout = settings.busy_timeout
    return tracking_uri(settings.uri)


def project_root():
    """DVC_ROOT (the main checkout, also under `dvc exp run`), else the working directory."""
    return Path(os.environ.get("DVC_ROOT") or Path.cwd()).resolve()


HOST_TAG, PID_TAG = "digitnet.host", "digitnet.pid"  # which process owns a RUNNING run
WEIGHTS_TAG = "weights_md5"  # links a model file to the MLflow run that trained it
# The experiment's kind: the UI opens a model-training experiment on its runs, not on GenAI.
KIND_TAG, KIND = "mlflow.experimentKind", "custom_model_development"
CONTEXT_TAG = "mlflow.data.context"  # what a run used a dataset for: training, validation, test
FAILURE_TAG = "digitnet.failure"  # why a run ended FAILED: the error's one line
busy_timeout = 30.0  # seconds a SQLite store held by another process is waited for (store_uri)
ENDING_TRIES = 3  # ending a run waits out a busy store this many times busy_timeout
_READY = set()  # stores this process has already opened under the lock
_STORES = set()  # the real paths of those stores, for _write_ahead
last_uri = None  # the store `client` opened last, which an error of MLflow's names (cli.py)


def client(uri):
    """An MlflowClient for `uri`; a SQLite store is created or upgraded under a file lock.

    MLflow builds a new SQLite store's schema on first use. Processes that start on a new store
    at the same moment race in that migration and can break it, so the first use in each process
    waits for <store>.lock. Every connection to the store then writes ahead (see _write_ahead).
    """
    from mlflow.tracking import MlflowClient

    global last_uri
    last_uri = uri
    # MLflow announces each schema step of a new SQLite store at INFO, and logs a locked or full
    # store's traceback at ERROR before it raises; store_errors turns those into one line.
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.CRITICAL)
    if not uri.startswith("sqlite:///") or uri in _READY:
        return _Patient(MlflowClient(tracking_uri=uri), uri)
    store = Path(uri.removeprefix("sqlite:///"))
    store.parent.mkdir(parents=True, exist_ok=True)
    _watch_connections()
    _STORES.add(os.path.realpath(store))
    with open(f"{store}.lock", "a") as lock, store_errors(uri):
        fcntl.flock(lock, fcntl.LOCK_EX)
        mlflow_client = _Patient(MlflowClient(tracking_uri=uri), uri)
        mlflow_client.search_experiments(max_results=1)
    _READY.add(uri)
    return mlflow_client


class _Patient:
    """An MlflowClient whose calls wait out a busy store, up to `busy_timeout` seconds, and turn
    a busy, full or refusing store into a StoreError.

    MLflow's SQLite store raises "database is locked" as soon as SQLite gives up, and never tries
    again; SQLite gives up at once, whatever its busy timeout, when a transaction that read finds
    that another process wrote meanwhile. A failed call has been rolled back, so it is repeated.
    """

    def __init__(self, mlflow_client, uri):
        self._client, self._uri = mlflow_client, uri

    def __getattr__(self, name):
        attribute = getattr(self._client, name)
        if not callable(attribute):
            return attribute
        return functools.partial(_patiently, attribute, self._uri)


def _patiently(call, uri, *args, **kwargs):
    deadline = time.monotonic() + busy_timeout
    while True:
        try:
            with store_errors(uri):
                return call(*args, **kwargs)
        except StoreError as exc:
            if not exc.busy or time.monotonic() >= deadline:
                raise
        time.sleep(0.1)


@contextmanager
def store_errors(uri):
    """A store that stays locked, a full disk or database: one StoreError naming the place."""
    from mlflow.exceptions import MlflowException

    try:
        yield
    except MlflowException as exc:
        text = str(exc)
        if "database is locked" in text:
            raise StoreError(
                f"the MLflow store {_where(uri)} is busy: another process has held it locked "
                f"for {busy_timeout:g} s; run again when it is done, or wait longer with "
                "tracking.busy_timeout=<seconds>",
                busy=True,
            ) from None
        if "database or disk is full" in text:
            raise StoreError(_no_space(_where(uri))) from None
        raise
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
        local = artifact_root(uri) if uri.startswith("sqlite:///") else None
        raise StoreError(_no_space(_fullest(local, exc.filename))) from None


def _where(uri):
    return uri.removeprefix("sqlite:///") if uri.startswith("sqlite:///") else uri


def _fullest(*paths):
    """Of `paths`, the one on the device with the least space left: the one that filled up. An
    error's file name may be the source of a copy, and a model is written to a temporary
    folder before it is copied into the store."""

    def free(path):
        existing = next(folder for folder in [Path(path), *Path(path).parents] if folder.exists())
        return shutil.disk_usage(existing).free

    return min((str(path) for path in paths if path), key=free, default="the MLflow store")


def _no_space(path):
    return f"no space left on the device of {path}; free some space there and run again"


def artifact_root(uri):
    """The folder of a SQLite store's artifacts (mlruns/ beside it); the uri for any other."""
    location = artifact_location(uri)
    return url2pathname(urlparse(location).path) if location else uri


@functools.cache
def _watch_connections():
    """Have every new SQLAlchemy connection pass by _write_ahead, and every pooled one stay with
    the process that opened it (once per process)."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine
    from sqlalchemy.pool import Pool

    event.listen(Engine, "connect", _write_ahead)
    event.listen(Engine, "after_cursor_execute", _our_busy_timeout)
    event.listen(Pool, "connect", _opened_here)
    event.listen(Pool, "checkout", _same_process)


def _opened_here(_connection, record):
    record.info["pid"] = os.getpid()


def _same_process(_connection, record, proxy):
    """A sweep's job is a fork of the process that launched it, pool and all; a connection that
    process opened is not the job's to use (SQLAlchemy's recipe for pools and os.fork())."""
    from sqlalchemy import exc

    if record.info.get("pid", os.getpid()) != os.getpid():
        record.dbapi_connection = proxy.dbapi_connection = None
        raise exc.DisconnectionError("a connection of the parent process; opening a new one")


def _our_busy_timeout(_connection, cursor, statement, *_):
    """SQLite's wait for a busy store set to `busy_timeout`, after MLflow's own, which sets it to
    20 s at the start of every session and offers no setting for it."""
    if statement.lstrip().lower().startswith("pragma busy_timeout"):
        cursor.connection.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")


def _write_ahead(connection, _record):
    """A connection to one of our SQLite stores: write-ahead log, commits without fsync.

    In SQLite's default mode each commit syncs a journal and the store to disk, and a job makes
    about 40 commits through MLflow (docs/benchmarks.md has the cost). With a write-ahead log
    and synchronous=NORMAL a commit only appends to <store>-wal; a crashed process loses
    nothing, and a power cut or an OS crash at worst the last commits, never the store
    (https://sqlite.org/wal.html).
    Readers and the writer no longer block each other either. The mode stays with the file; a
    store that another process holds busy stays in its mode, and keeps its synchronous setting.
    """
    if not isinstance(connection, sqlite3.Connection):
        return
    main = connection.execute("PRAGMA database_list").fetchone()[2]
    if not main or os.path.realpath(main) not in _STORES:
        return
    try:
        (mode,) = connection.execute("PRAGMA journal_mode=WAL").fetchone()
    except sqlite3.OperationalError:  # locked by another process past the busy timeout
        return
    if mode == "wal":
        connection.execute("PRAGMA synchronous=NORMAL")


def artifact_location(uri):
    """<directory of the store>/mlruns as a file URI for a SQLite store; None (the server's
    choice) for any other.

    Without it MLflow files a new experiment's artifacts under ./mlruns of whichever directory
    the first run happened to start in: a Hydra output directory, a `dvc exp run` temporary copy.
    """
    if not uri.startswith("sqlite:///"):
        return None
    return (Path(uri.removeprefix("sqlite:///")).parent / "mlruns").resolve().as_uri()


def experiment_id(mlflow_client, name, uri=None):
    """The id of experiment `name`, created if missing (tolerating a concurrent creator).

    A new experiment keeps its artifacts beside a SQLite store (`artifact_location`), and every
    experiment is tagged as one of model training (KIND_TAG), also one made before that tag. One
    whose artifacts are in another project's mlruns/, a store copied or moved from there, is set
    aside for a new one (`set_aside`), so that a copy never writes into the original.
    """
    from mlflow.exceptions import MlflowException

    experiment = own_experiment(mlflow_client, name, uri or "")
    if experiment is None:
        try:
            return mlflow_client.create_experiment(
                name, artifact_location=artifact_location(uri or ""), tags={KIND_TAG: KIND}
            )
        except MlflowException:
            experiment = mlflow_client.get_experiment_by_name(name)
    if experiment.tags.get(KIND_TAG) is None:
        mlflow_client.set_experiment_tag(experiment.experiment_id, KIND_TAG, KIND)
    return experiment.experiment_id


def copied_from(experiment, uri):
    """The project folder that `experiment` of the SQLite store `uri` keeps its artifacts in,
    when that is another's than the store's: the store was copied or moved from there. None if
    its artifacts are beside the store, or in a place of the user's choosing (not mlruns/)."""
    location, own = experiment.artifact_location or "", artifact_location(uri)
    if own is None or location == own or not location.startswith("file:"):
        return None
    folder = Path(url2pathname(urlparse(location).path))
    return folder.parent if folder.name == "mlruns" else None


def own_experiment(mlflow_client, name, uri):
    """Experiment `name` of the store, or None; one copied from another project is set aside."""
    experiment = mlflow_client.get_experiment_by_name(name)
    if experiment is not None and copied_from(experiment, uri):
        return set_aside(mlflow_client, name, uri)
    return experiment


def set_aside(mlflow_client, name, uri):
    """Rename experiment `name`, copied from another project, to '<name> from <that project>'
    and say so; None, for a new experiment `name` to be made. Under the store's lock, so that
    processes of one copy set it aside once."""
    from mlflow.exceptions import MlflowException

    store = uri.removeprefix("sqlite:///")
    with open(f"{store}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        experiment = mlflow_client.get_experiment_by_name(name)
        original = experiment and copied_from(experiment, uri)
        if not original:
            return experiment
        new_name = f"{name} from {original}"
        try:
            mlflow_client.rename_experiment(experiment.experiment_id, new_name)
        except MlflowException:  # that name is taken: the project went there and back
            new_name = f"{name} {experiment.experiment_id} from {original}"
            mlflow_client.rename_experiment(experiment.experiment_id, new_name)
    print(
        f"tracking: {store} was copied or moved from {original}, where experiment '{name}' "
        f"keeps its artifacts; its runs are now experiment '{new_name}', and new runs go to a "
        f"new '{name}' with their artifacts in {artifact_root(uri)}",
        flush=True,
    )
    return None


def start_run(uri, experiment, run_name, params, tags, parent_run_id=None):
    """Create a run with its params, MLflow's standard tags and `tags`; return its id.

    The run stays RUNNING. `tags` win over the standard ones. With `parent_run_id` the run is
    nested under that run in the MLflow UI.
    """
    from mlflow.entities import Param

    mlflow_client = client(uri)
    nesting = {"mlflow.parentRunId": parent_run_id} if parent_run_id else {}
    nesting |= {HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid())}
    source = tags.get(provenance.SOURCE_NAME_TAG)
    labels = provenance.standard_tags(source) | {k: str(v) for k, v in tags.items()}
    experiment = experiment_id(mlflow_client, experiment, uri)
    run = mlflow_client.create_run(experiment, run_name=run_name, tags=labels | nesting)
    mlflow_client.log_batch(run.info.run_id, params=[Param(k, str(v)) for k, v in params.items()])
    return run.info.run_id


def log_batch(uri, run_id, metrics=None, histories=None, tags=None, model_metrics=None):
    """Scalar metrics, histories and tags of run `run_id`, all in one log_batch call.

    `histories` maps a key to its values, one per step (step = 1-based epoch). One call is one
    round of MLflow's checks and writes, not one per value or per kind. MlflowClient.log_batch
    itself splits long lists into requests of at most 1000 metrics. `model_metrics`, a list of
    (key, value, model id, (dataset name, digest) or None), are the run's metrics too, and also
    the logged model's, measured on that dataset: the Models tab ranks models by them.
    """
    from mlflow.entities import Metric, RunTag

    timestamp = int(time.time() * 1000)
    batch = [Metric(k, float(v), timestamp, 0) for k, v in (metrics or {}).items()]
    for key, values in (histories or {}).items():
        batch += [Metric(key, float(v), timestamp, step) for step, v in enumerate(values, start=1)]
    for key, value, model_id, (name, digest) in model_metrics or ():
        batch.append(Metric(key, float(value), timestamp, 0, model_id, name, digest))
    labels = [RunTag(k, str(v)) for k, v in (tags or {}).items()]
    client(uri).log_batch(run_id, metrics=batch, tags=labels)


def log_datasets(uri, run_id, datasets, source, digest):
    """Record the splits a run used as its MLflow datasets (the UI's Datasets column).

    `datasets` maps a context (training, validation, test) to (name, features, targets); the
    arrays are described (shape, dtype), not copied. `source` is the workbook's file URI and
    `digest` says which rows: the workbook's MD5 and the split settings (see `dataset_digest`).
    """
    import mlflow.data
    from mlflow.entities import Dataset, DatasetInput, InputTag

    inputs = []
    for context, (name, features, targets) in datasets.items():
        with warnings.catch_warnings():
            # MLflow registers a local-file source for both "" and "file:" URIs, then warns
            # that a path is either; the two are the same class.
            warnings.filterwarnings("ignore", "The specified dataset source can be interpreted")
            dataset = mlflow.data.from_numpy(
                features, source=source, targets=targets, name=name, digest=digest
            )
        entity = Dataset(**dataset.to_dict())
        inputs.append(DatasetInput(entity, [InputTag(CONTEXT_TAG, context)]))
    client(uri).log_inputs(run_id, datasets=inputs)


def dataset_digest(source_md5, seed, val_fraction, test_fraction):
    """'3660aea3-s0-v0.1-t0.2': which rows of which workbook, within MLflow's 36 characters
    (past them, the settings are hashed)."""
    settings = f"s{seed}-v{val_fraction}-t{test_fraction}"
    if len(settings) > 27:
        settings = hashlib.md5(settings.encode()).hexdigest()[:12]
    return f"{source_md5[:8]}-{settings}"


def run_datasets(uri, run_id):
    """{context: (name, digest)} of the datasets logged on run `run_id`."""
    found = {}
    for item in client(uri).get_run(run_id).inputs.dataset_inputs:
        context = {tag.key: tag.value for tag in item.tags}.get(CONTEXT_TAG)
        if context:
            found[context] = (item.dataset.name, item.dataset.digest)
    return found


def run_models(uri, run_id):
    """The models that run `run_id` logged, newest first, whatever their status."""
    mlflow_client = client(uri)
    experiment = mlflow_client.get_run(run_id).info.experiment_id
    return mlflow_client.search_logged_models(
        [experiment],
        filter_string=f"source_run_id = '{run_id}'",
        order_by=[{"field_name": "creation_time", "ascending": False}],
    )


def logged_model_id(uri, run_id):
    """The id of the newest model that run `run_id` logged, or None."""
    models = run_models(uri, run_id)
    return models[0].model_id if models else None


def log_metrics(uri, run_id, metrics):
    """Scalar metrics, all in one call."""
    log_batch(uri, run_id, metrics=metrics)


def log_artifacts(uri, run_id, paths, artifact_path=None):
    mlflow_client = client(uri)
    for path in paths:
        mlflow_client.log_artifact(run_id, str(path), artifact_path)


def find_run(uri, experiment, tag, value):
    """The id of the newest run in `experiment` tagged `tag` = `value`, or None. Not one of an
    experiment copied from another project, whose artifacts are the other's to keep."""
    mlflow_client = client(uri)
    found = own_experiment(mlflow_client, experiment, uri)
    if found is None:
        return None
    runs = mlflow_client.search_runs(
        [found.experiment_id],
        filter_string=f"tags.{tag} = '{value}'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return runs[0].info.run_id if runs else None


@contextmanager
def ending(uri, run_id):
    """End run `run_id` when the block ends: FINISHED if it completes, KILLED if it is
    interrupted (Ctrl-C, SIGTERM), FAILED if it raises. Does nothing without a run."""
    with adding(uri, run_id):
        yield
    if run_id is not None:
        end_run(uri, run_id, "FINISHED")


@contextmanager
def adding(uri, run_id):
    """Leave run `run_id` as it is if the block completes; end it KILLED if the block is
    interrupted, FAILED if it raises, with the error's line as its FAILURE_TAG: a run that
    misses some of what it records (scores, model, figures) is not FINISHED.

    The block's error is the one raised, also when the store refuses to end the run too (a
    store still locked, a full disk): the run is then left RUNNING for `digitnet stale`."""
    if run_id is None:
        yield
        return
    try:
        yield
    except KeyboardInterrupt:
        _end_quietly(uri, run_id, "KILLED")
        raise
    except BaseException as exc:
        _end_quietly(uri, run_id, "FAILED", str(exc).strip() or type(exc).__name__)
        raise


def _end_quietly(uri, run_id, status, reason=None):
    """The tag and the status each written if the store lets it (a full disk may take the one
    and not the other)."""
    if reason:
        with suppress(StoreError):
            _retried(lambda: client(uri).set_tag(run_id, FAILURE_TAG, reason.splitlines()[0]))
    with suppress(StoreError):
        end_run(uri, run_id, status)


def mark_stale(uri, experiment):
    """End as KILLED every RUNNING run of `experiment` whose process on this host is gone.

    A process killed outright (SIGKILL, a crash, a lost machine) cannot end its own run. Runs
    owned by other hosts are left alone: from here there is no telling whether they still live.
    Returns the ids of the runs marked.
    """
    mlflow_client = client(uri)
    found = mlflow_client.get_experiment_by_name(experiment)
    if found is None:
        return []
    host, marked = socket.gethostname(), []
    running = mlflow_client.search_runs(
        [found.experiment_id], "attributes.status = 'RUNNING'", max_results=10000
    )
    for run in running:
        tags = run.data.tags
        if tags.get(HOST_TAG) != host or alive(int(tags.get(PID_TAG, "0"))):
            continue
        mlflow_client.set_tag(run.info.run_id, "digitnet.ended_by", "mark_stale")
        mlflow_client.set_terminated(run.info.run_id, "KILLED")
        marked.append(run.info.run_id)
    return marked


def alive(pid):
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def end_orphans(uri, parent, status, wait=0.0):
    """End the parent's child runs still RUNNING whose process is gone (killed with its job).

    With `wait`, first give runs whose process lives up to that many seconds to end themselves
    (after Ctrl-C, each job ends its own run KILLED); one still RUNNING then is left alone.
    """
    mlflow_client = client(uri)
    experiment = mlflow_client.get_run(parent).info.experiment_id
    deadline = time.monotonic() + wait
    while True:
        running = mlflow_client.search_runs(
            [experiment],
            filter_string=f"tags.`mlflow.parentRunId` = '{parent}' "
            "and attributes.status = 'RUNNING'",
            max_results=10000,
        )
        living = []
        for run in running:
            if alive(int(run.data.tags.get(PID_TAG, "0"))):
                living.append(run)
            else:
                end_run(uri, run.info.run_id, status)
        if not living or time.monotonic() >= deadline:
            return
        time.sleep(0.2)


def job_runs(uri, parent_run_id, job):
    """The ids and statuses of the child runs of `parent_run_id` tagged job = `job`."""
    mlflow_client = client(uri)
    experiment = mlflow_client.get_run(parent_run_id).info.experiment_id
    runs = mlflow_client.search_runs(
        [experiment],
        filter_string=f"tags.`mlflow.parentRunId` = '{parent_run_id}' and tags.job = '{job}'",
        max_results=1000,
    )
    return {run.info.run_id: run.info.status for run in runs}


def delete_run(uri, run_id):
    """Move a run to MLflow's deleted runs (`mlflow gc` purges them; the UI can restore them)."""
    client(uri).delete_run(run_id)


def reopen_run(uri, run_id):
    """A finished or stopped run RUNNING again, owned by this process (a resumed sweep)."""
    mlflow_client = client(uri)
    mlflow_client.update_run(run_id, status="RUNNING")
    mlflow_client.set_tag(run_id, PID_TAG, str(os.getpid()))
    mlflow_client.set_tag(run_id, HOST_TAG, socket.gethostname())


def end_run(uri, run_id, status="FINISHED"):
    """Mark the run FINISHED, FAILED or KILLED, waiting out a busy store ENDING_TRIES times."""
    _retried(lambda: client(uri).set_terminated(run_id, status))


def _retried(call):
    for tries_left in reversed(range(ENDING_TRIES)):
        try:
            return call()
        except StoreError as exc:
            if not exc.busy or not tries_left:
                raise
