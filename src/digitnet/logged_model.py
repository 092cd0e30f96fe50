"""A trained network as an MLflow model: logged with the run that trained it, downloaded back.

The model is a pyfunc written as code (mlflow_model.py) whose artifact is the weights .npz, so
it loads without pickle wherever MLflow and NumPy run.
"""

import functools
import logging
import os
import sys
from contextlib import contextmanager
from pathlib import Path

from digitnet.errors import DigitnetError
from digitnet.tracking import client, run_models, store_errors

MODEL_NAME = "model"  # the name of a model logged without one, and of every model before names
NOT_IN_NAMES = str.maketrans({c: "_" for c in "/:.%\"'"})  # MLflow refuses them in model names
MODEL_CODE = Path(__file__).with_name("mlflow_model.py")  # the pyfunc model, as code
MODEL_REQUIREMENTS = ("mlflow", "numpy", "pandas")  # all that the model code imports


def model_name(run_name):
    """The name of a run's model: the run's, with the characters MLflow refuses in model names
    ('.', '/', ':' ...) written '_': 'best lr=0.01' → 'best lr=0_01'."""
    return run_name.translate(NOT_IN_NAMES) or MODEL_NAME


def log_model(uri, run_id, weights, examples, registered_name=None, name=MODEL_NAME):
    """Log the network saved at `weights` as the pyfunc model of run `run_id`; its models:/ URI.

    The model is named `model_name(name)`, so that the Models tab tells one run's from
    another's; it is models:/<model id>, or runs:/<run id>/<that name>.

    A model from code (mlflow_model.py) whose artifact is the weights .npz and whose code is the
    digitnet package, so it loads from its own files, without pickle. The signature is built
    from the network's layer sizes: a float64 tensor (n, n_features) in, since MLflow would
    check 400 named input columns of the example one by one. `examples`, a few rows of raw
    pixels, become the input example. Requirements are pinned here rather than inferred:
    inference loads the model in a new process, and every job of a sweep logs a model. With
    `registered_name`, the model also becomes the next version of that registered model.
    """
    import mlflow
    import numpy as np
    from mlflow.models import Model

    # Created here rather than by Model.log, which would file it under the default experiment
    # when no run is active, where runs:/<run id>/model does not look for it. The settings stay
    # with the run, which the model names as its source, rather than being copied onto it.
    mlflow_client = client(uri)
    experiment = mlflow_client.get_run(run_id).info.experiment_id
    name = model_name(name)
    model = mlflow_client.create_logged_model(experiment, name, source_run_id=run_id)
    with fluent(uri), _path_kept(), store_errors(uri):  # a full disk: one line
        info = Model.log(
            artifact_path=None,
            name=name,
            flavor=mlflow.pyfunc,
            run_id=run_id,
            model_id=model.model_id,
            python_model=str(MODEL_CODE),
            artifacts={"weights": str(weights)},
            code_paths=[str(Path(__file__).parent)],
            signature=_signature(weights),
            input_example=np.asarray(examples, dtype=np.float64),
            pip_requirements=list(pinned_requirements()),
            registered_model_name=registered_name,
        )
    return info.model_uri


def _signature(weights):
    """Raw pixels in, as one float64 tensor (n, n_features); the digit and its scores out."""
    import numpy as np
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema, TensorSpec

    from digitnet import frames
    from digitnet.network import load

    n_features, *_, n_classes = load(weights).layer_sizes
    return ModelSignature(
        inputs=Schema([TensorSpec(np.dtype(np.float64), (-1, n_features))]),
        outputs=Schema(
            [ColSpec("long", frames.DIGIT)]
            + [ColSpec("double", name) for name in frames.score_columns(n_classes)]
        ),
    )


def warm():
    """Pay MLflow's first-save costs now, in a process whose forks will log models: a tiny
    network saved as the model is (its example run through it, every installed module mapped
    to its package), into a temporary directory that is then removed."""
    import tempfile

    import mlflow.pyfunc
    import numpy as np

    from digitnet.network import Network, save

    layers = [np.zeros((2, 2)), np.zeros((2, 10))]
    network = Network(layers, [np.zeros(2), np.zeros(10)], "sigmoid", np.zeros(2), np.ones(2))
    logging.getLogger("mlflow.pyfunc").setLevel(logging.WARNING)  # as log_model has it
    quiet = logging.getLogger("mlflow.models")
    level, progress = quiet.level, os.environ.get(_PROGRESS_VARIABLE)
    quiet.setLevel(logging.ERROR)
    os.environ[_PROGRESS_VARIABLE] = "false"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            save(Path(tmp) / "weights.npz", network)
            with _path_kept():
                mlflow.pyfunc.save_model(
                    path=f"{tmp}/model",
                    python_model=str(MODEL_CODE),
                    artifacts={"weights": f"{tmp}/weights.npz"},
                    code_paths=[str(Path(__file__).parent)],
                    signature=_signature(Path(tmp) / "weights.npz"),
                    input_example=np.zeros((1, 2)),
                    pip_requirements=list(pinned_requirements()),
                )
    finally:
        quiet.setLevel(level)
        if progress is None:
            os.environ.pop(_PROGRESS_VARIABLE, None)
        else:
            os.environ[_PROGRESS_VARIABLE] = progress


@functools.cache
def pinned_requirements():
    """The model's pip requirements, pinned to the versions installed here (looked up once)."""
    from importlib.metadata import version

    return tuple(f"{name}=={version(name)}" for name in MODEL_REQUIREMENTS)


def download_model(uri, model_uri, dst):
    """Download the MLflow model at `model_uri` (models:/<model id>, runs:/<run id>/<name>,
    models:/<name>/<version>) into the directory `dst`; the local path of the model. An unknown
    one is a DigitnetError. runs:/<run id>/model, the URI of every run's model before models
    were named after their runs, still finds the run's model whatever its name."""
    import mlflow
    from mlflow.exceptions import MlflowException

    store = Path(uri.removeprefix("sqlite:///"))
    if uri.startswith("sqlite:///") and not store.is_file():
        raise DigitnetError(f"no MLflow store at {store} to find {model_uri} in")
    try:
        client(uri)  # a store of an older MLflow is upgraded under the lock
        with fluent(uri):
            resolved = _named_model_uri(uri, model_uri)
            return Path(mlflow.artifacts.download_artifacts(artifact_uri=resolved, dst_path=dst))
    except (MlflowException, OSError) as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DigitnetError(f"no MLflow model at {model_uri} in {uri} ({message})") from None


def _named_model_uri(uri, model_uri):
    """models:/<model id> for runs:/<run id>/model when the run's model has another name."""
    run_id, _, rest = model_uri.removeprefix("runs:/").partition("/")
    if not model_uri.startswith("runs:/") or rest.split("/")[0] != MODEL_NAME:
        return model_uri
    models = run_models(uri, run_id)
    if not models or any(model.name == MODEL_NAME for model in models):
        return model_uri
    return f"models:/{models[0].model_id}" + rest.removeprefix(MODEL_NAME)


@contextmanager
def fluent(uri):
    """MLflow's process-wide tracking URI set to `uri` for the block, as its model functions
    read it, without their progress bars and routine notes; the environment is restored."""
    import mlflow

    logging.getLogger("mlflow.pyfunc").setLevel(logging.WARNING)  # "Validating input example"
    saved = {name: os.environ.get(name) for name in (_URI_VARIABLE, _PROGRESS_VARIABLE)}
    previous = mlflow.get_tracking_uri() if mlflow.is_tracking_uri_set() else None
    os.environ[_PROGRESS_VARIABLE] = "false"
    mlflow.set_tracking_uri(uri)  # which also sets MLFLOW_TRACKING_URI
    try:
        yield
    finally:
        mlflow.set_tracking_uri(previous)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def _path_kept():
    """sys.path as it was before the block. Model.log loads the new model to check its input
    example, and loading puts the model's code directory, a temporary one, first on sys.path for
    good; in a sweep that list would grow by one dead directory per job, and every package
    metadata lookup, which MLflow makes as it logs, would get slower with it."""
    saved = list(sys.path)
    try:
        yield
    finally:
        sys.path[:] = saved


_URI_VARIABLE, _PROGRESS_VARIABLE = "MLFLOW_TRACKING_URI", "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
