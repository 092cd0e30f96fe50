"""Every run's network as an MLflow model: loaded by pyfunc, registered, promoted and served
over REST as docs/serving.md says.

One tiny experiment, run in this process into a new SQLite store, feeds every test here; the
server is a real `mlflow models serve` on 127.0.0.1, stopped by its process group.
"""

import json
import re
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from contextlib import contextmanager

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml
from mlflow.tracking import MlflowClient

from digitnet import cli, frames, logged_model, predict, promote
from digitnet.errors import InputError
from digitnet.experiment import ensure_processed, run_experiment
from digitnet.network import load
from digitnet.training import train_model
from support import (
    ROOT,
    free_port,
    make_checkout,
    sh,
    stop_group,
    tiny_digits,
    tool_env,
    wait_for_url,
)

pytestmark = pytest.mark.slow

REGISTERED = "digits"
OUTPUT_COLUMNS = ["digit", *(f"p{d}" for d in range(10))]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(checkout, store uri, run id, X, labels): one experiment whose model is registered as
    `digits`, its outputs in <checkout>/run."""
    root = make_checkout(tmp_path_factory.mktemp("checkout"))
    uri = f"sqlite:///{root / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        config = cli.load_config(
            ["experiment=tiny", f"tracking.uri={uri}", f"tracking.register_model={REGISTERED}"]
        )
        run_id = run_experiment(config, root / "run")["run_id"]
    return root, uri, run_id, *tiny_digits()


@pytest.fixture
def store(trained, monkeypatch):
    """The trained store as MLflow's process-wide tracking URI, as a user's script sets it."""
    _, uri, *_ = trained
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    yield uri
    mlflow.set_tracking_uri(None)


def logged_model_uri(uri, run_id):
    """models:/<model id> of the model that run `run_id` logged when it was trained, found through
    MLflow's logged models (its name, and so its runs:/ path, follows the run's name)."""
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_run(run_id).info.experiment_id
    models = client.search_logged_models([experiment], f"source_run_id = '{run_id}'")
    return min(models, key=lambda model: model.creation_timestamp).model_uri


def network_of(root):
    """The network the run trained, read from the run's own output directory."""
    return load(root / "run/model/weights.npz")


def test_the_run_logs_a_pyfunc_model_that_predicts_like_the_network(trained, store):
    root, uri, run_id, X, _ = trained
    model = mlflow.pyfunc.load_model(logged_model_uri(uri, run_id))
    predicted = model.predict(pd.DataFrame(X))
    network = network_of(root)
    assert list(predicted.columns) == OUTPUT_COLUMNS
    assert predicted["digit"].tolist() == network.predict(X).tolist()
    np.testing.assert_allclose(predicted[OUTPUT_COLUMNS[1:]], network.predict_proba(X))


def test_the_logged_model_is_code_and_an_npz_with_a_signature_and_example(trained, store, tmp_path):
    _, uri, run_id, X, _ = trained
    local = logged_model.download_model(uri, logged_model_uri(uri, run_id), tmp_path)
    files = {p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file()}
    assert {"MLmodel", "mlflow_model.py", "artifacts/weights.npz"} <= files
    assert "code/digitnet/network.py" in files
    assert not [f for f in files if f.endswith((".pkl", ".pickle", ".cloudpickle"))]
    described = yaml.safe_load((local / "MLmodel").read_text())
    inputs = json.loads(described["signature"]["inputs"])
    outputs = json.loads(described["signature"]["outputs"])
    assert inputs == [{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 16]}}]
    assert [column["name"] for column in outputs] == OUTPUT_COLUMNS
    example = np.asarray(json.loads((local / "input_example.json").read_text()))
    assert example.shape == (3, 16)
    assert all(np.isclose(X, row).all(axis=1).any() for row in example)  # rows of the workbook
    requirements = (local / "requirements.txt").read_text().split()
    assert [line.split("==")[0] for line in requirements] == ["mlflow", "numpy", "pandas"]


def documented_rest_commands():
    """The bash blocks of docs/serving.md's section "Serve it over REST", as written: (the
    server's block, the request's block)."""
    text = (ROOT / "docs/serving.md").read_text()
    section = text[text.index("## Serve it over REST") :]
    serve, request = re.findall(r"^```bash\n(.*?)^```$", section, re.M | re.S)[:2]
    assert "mlflow models serve -m models:/digits@champion" in serve
    assert request.startswith("digitnet request data/digits.xlsx") and "curl" in request
    return serve, request


def test_the_champion_answers_the_documented_request_over_rest(trained, tmp_path, capsys):
    """docs/serving.md's commands as written, on the checkout's data/digits.xlsx, but for the
    port: promote, serve models:/digits@champion, build request.json, curl it."""
    root, uri, run_id, X, _ = trained
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        promote.main(["--run", run_id, "--tracking-uri", uri])
    assert capsys.readouterr().out.endswith(
        "→ digits version 1 (already registered), alias champion: models:/digits@champion\n"
    )
    serve, request = documented_rest_commands()
    port = free_port()
    log = open(tmp_path / "serve.log", "wb")
    process = subprocess.Popen(
        ["bash", "-c", serve.replace("-p 5001", f"-p {port}")],
        cwd=root,
        env=tool_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_url(f"{base}/ping", process, log=tmp_path / "serve.log")
        curl = sh(["bash", "-c", request.replace(":5001/", f":{port}/")], root)
        answer = json.loads(curl.stdout)["predictions"]
        as_frame = invoke(
            base, {"dataframe_split": {"columns": list(range(16)), "data": X.tolist()}}
        )
    finally:
        stop_group(process)
        log.close()
    first, last = map(int, re.search(r"--rows (\d+)-(\d+)", request).groups())
    rows = X[first - 1 : last]
    assert json.loads((root / "request.json").read_text()) == {"inputs": rows.tolist()}
    network = network_of(root)
    assert [row["digit"] for row in answer] == network.predict(rows).tolist()
    scores = [[row[f"p{d}"] for d in range(10)] for row in answer]
    np.testing.assert_allclose(scores, network.predict_proba(rows))
    assert [row["digit"] for row in as_frame] == network.predict(X).tolist()
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0, "the server still answers"


def invoke(base, body):
    """POST `body` to the server's /invocations; its predictions."""
    request = urllib.request.Request(
        f"{base}/invocations",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["predictions"]


def test_register_model_makes_the_run_model_version_1(trained, store):
    _, uri, run_id, *_ = trained
    version = MlflowClient(tracking_uri=uri).get_model_version(REGISTERED, "1")
    assert version.run_id == run_id
    assert version.status == "READY"


def test_digitnet_predict_takes_run_and_registry_uris(trained, tmp_path, capsys):
    root, uri, run_id, *_ = trained
    workbook = root / "data" / "digits.xlsx"

    def csv_of(model, name):
        predict.predict(
            model=model,
            workbook=workbook,
            csv=tmp_path / f"{name}.csv",
            out_workbook=tmp_path / f"{name}.xlsx",
            tracking_uri=uri,
        )
        return (tmp_path / f"{name}.csv").read_text(), capsys.readouterr().out.splitlines()[-1]

    by_path = csv_of(root / "run/model", "path")
    assert by_path[1].startswith("accuracy ")
    assert csv_of(f"runs:/{run_id}/model", "run") == by_path
    assert csv_of(f"models:/{REGISTERED}/1", "registered") == by_path


def test_an_unknown_run_in_the_store_is_one_error_line(trained, capsys):
    root, uri, *_ = trained
    with pytest.raises(SystemExit) as exit:
        predict.main(["runs:/0123abc/model", str(root / "data/digits.xlsx"), "--tracking-uri", uri])
    assert exit.value.code == 2
    assert capsys.readouterr().err == (
        f"error: no MLflow model at runs:/0123abc/model in {uri} (Run with id=0123abc not found)\n"
    )


def test_the_model_runs_the_digitnet_code_logged_with_it(trained, tmp_path):
    """In a new process, loading the model puts its own copy of digitnet first on the path."""
    _, uri, run_id, *_ = trained
    script = (
        "import mlflow; "
        f"mlflow.pyfunc.load_model('{logged_model_uri(uri, run_id)}', dst_path='{tmp_path}'); "
        "import digitnet.network; print(digitnet.network.__file__)"
    )
    loaded = sh([sys.executable, "-c", script], tmp_path, MLFLOW_TRACKING_URI=uri).stdout.split()
    assert loaded[-1] == str(tmp_path / "code" / "digitnet" / "network.py")


def test_log_model_false_logs_no_model(trained, monkeypatch, tmp_path):
    root, uri, *_ = trained
    monkeypatch.chdir(root)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    config = cli.load_config(["experiment=tiny", "tracking.log_model=false", f"tracking.uri={uri}"])
    processed = ensure_processed(config)  # the arrays the module's own run trained on
    run_id = train_model(config=config, processed=processed, model_dir=tmp_path / "model").run_id
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_run(run_id).info.experiment_id
    models = client.search_logged_models([experiment])
    assert run_id not in {model.source_run_id for model in models}
    assert len(models) >= 1  # the module's own run did log one


def test_logging_a_model_leaves_sys_path_as_it_was(trained, monkeypatch):
    """MLflow loads the new model to check its example, which would put the model's temporary
    code directory on sys.path, once per job of a sweep."""
    root, uri, run_id, X, _ = trained
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    before = list(sys.path)
    model_uri = logged_model.log_model(uri, run_id, root / "run/model/weights.npz", X[:2])
    assert sys.path == before
    assert model_uri.startswith("models:/m-")


@pytest.fixture(scope="module")
def trained_cnn(tmp_path_factory):
    """(checkout, store uri, run id, X): one experiment=tiny model=cnn on 8x8 digits."""
    root = make_checkout(tmp_path_factory.mktemp("cnn"), side=8)
    uri = f"sqlite:///{root / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        config = cli.load_config(["experiment=tiny", "model=cnn", f"tracking.uri={uri}"])
        run_id = run_experiment(config, root / "run")["run_id"]
    return root, uri, run_id, tiny_digits(side=8)[0]


def test_a_convolutional_runs_model_serves_over_rest_like_the_network(trained_cnn, tmp_path):
    root, uri, run_id, X = trained_cnn
    network = network_of(root)
    assert network.weights[0].shape == (5, 5, 1, 32)  # conf/model/cnn.yaml's first kernels
    with served(root, logged_model_uri(uri, run_id), uri, tmp_path / "serve.log") as base:
        answer = invoke(base, {"inputs": X.tolist()})
    assert [row["digit"] for row in answer] == network.predict(X).tolist()
    scores = [[row[f"p{d}"] for d in range(10)] for row in answer]
    np.testing.assert_allclose(scores, network.predict_proba(X))


@contextmanager
def served(root, model_uri, tracking_uri, log_path):
    """A real `mlflow models serve` of `model_uri` on 127.0.0.1; yields its base URL."""
    port = free_port()
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "models", "serve", "-m", model_uri]
            + ["--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)],
            cwd=root,
            env=tool_env(MLFLOW_TRACKING_URI=tracking_uri),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_for_url(f"{base}/ping", process, log=log_path)
            yield base
        finally:
            stop_group(process)


def strict_json(text):
    """JSON as the standard defines it: NaN and Infinity are not JSON, so they fail here."""
    return json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in {text[:200]}"))


def post(base, body):
    """POST `body` (NaN and infinities written as Python's json writes them); (status, body)."""
    request = urllib.request.Request(
        f"{base}/invocations",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, strict_json(response.read())
    except urllib.error.HTTPError as error:
        return error.code, strict_json(error.read())


def test_the_served_model_refuses_nan_infinity_and_overflow_with_400(trained, tmp_path):
    """A real `mlflow models serve`: what the network cannot answer is HTTP 400 and a message
    naming the row and column, never 200 with NaN (which is not JSON)."""
    root, uri, run_id, X, _ = trained
    network = network_of(root)
    huge = np.full(16, np.finfo(np.float64).max)  # finite, but no network sums 16 of them
    with pytest.raises(InputError) as overflow:
        frames.predict_digits(network, [huge])
    nan_row, inf_row = X[:3].copy(), X[:3].copy()
    nan_row[1] = np.nan  # the all-NaN row
    inf_row[0, 2] = -np.inf
    with served(root, logged_model_uri(uri, run_id), uri, tmp_path / "serve.log") as base:
        answers = {
            name: post(base, {"inputs": rows.tolist()})
            for name, rows in [("nan", nan_row), ("inf", inf_row), ("huge", np.array([huge]))]
        }
        fine = post(base, {"inputs": X[:3].tolist()})
    expected = {
        "nan": "model input row 2, column 1 holds nan; every pixel must be a finite number",
        "inf": "model input row 1, column 3 holds -inf; every pixel must be a finite number",
        "huge": f"model input {overflow.value}",
    }
    for name, (status, body) in answers.items():
        assert status == 400, name
        assert body["error_code"] == "INVALID_PARAMETER_VALUE"
        assert body["message"].endswith(f"Error: {expected[name]}"), body["message"]
    assert str(overflow.value).endswith(
        "which overflows in the network; pixels must be of the size the model was trained on"
    )
    status, body = fine
    assert status == 200
    assert [row["digit"] for row in body["predictions"]] == network.predict(X[:3]).tolist()
