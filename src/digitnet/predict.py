"""`digitnet predict`: a trained network's digits for the examples of a new workbook.

    digitnet predict MODEL WORKBOOK [--csv OUT.csv] [--workbook OUT.xlsx]

MODEL is a weights.npz, the directory that holds one, or an MLflow model URI:
models:/digits@champion, models:/<model id> as training prints it, models:/<name>/<version> or
runs:/<run id>/model. WORKBOOK has sheet X and, optionally, sheet y; it is checked exactly as
the ingest stage checks it. The predictions (the digit and one score per digit, see `frames`) go
to a CSV file and to a new sheet `predictions` in a copy of the workbook; the input is never
overwritten. With labels in sheet y, the accuracy is printed as well. Unless --csv and
--workbook say otherwise, both go to predictions/ in the working directory, never beside the
workbook: a workbook in data/ sits in a directory that DVC tracks. Both are written, or neither:
a place that cannot be written is found before either is. A pixel the network cannot take (one
that overflows once scaled, or in the network) is an error naming its cell, as a bad cell is.

    digitnet request WORKBOOK [--rows 1-3] > request.json

prints rows of sheet X as the JSON body of a REST request to `mlflow models serve`.
"""

import argparse
import json
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

from digitnet import cli, frames, metrics, tracking, xlsx
from digitnet.artifacts import atomic_paths
from digitnet.config import DataConfig
from digitnet.errors import ArrayFileError, DigitnetError, InputError, WorkbookError
from digitnet.logged_model import download_model
from digitnet.network import load
from digitnet.preprocess import labels_to_classes
from digitnet.workbook import cell_name, read_for_prediction

SHEET = "predictions"
ROW = "row"  # the example's row in sheet X, as Excel numbers it
OUT_DIR = Path("predictions")  # default outputs, relative to the working directory


def is_model_uri(model):
    """True for runs:/..., models:/... and the like; a path that exists is always a path."""
    scheme, sep, _ = str(model).partition(":/")
    return bool(sep) and len(scheme) > 1 and scheme.isidentifier() and not Path(model).exists()


def load_model(model, tracking_uri=None):
    """The `Network` at `model`: a weights.npz, a directory with one, or an MLflow model URI
    (fetched from `tracking_uri`, by default the project's store)."""
    if is_model_uri(model):
        uri = tracking.tracking_uri(tracking_uri)
        with tempfile.TemporaryDirectory(prefix="digitnet-model-") as scratch:
            return _load_file(_weights_in(download_model(uri, model, scratch), model))
    return _load_file(_weights_in(Path(model), model))


def _weights_in(path, model):
    """weights.npz itself, in the directory, or in a logged MLflow model's artifacts/."""
    for candidate in (path, path / "weights.npz", path / "artifacts" / "weights.npz"):
        if candidate.is_file():
            return candidate
    raise DigitnetError(
        f"model not found: {model} (give a weights.npz, the directory that holds it, or an "
        "MLflow model URI such as models:/digits@champion)"
    )


def _load_file(path):
    try:
        return load(path)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, ArrayFileError):
        raise DigitnetError(
            f"{path} is not a digitnet model (the weights.npz that the train stage writes)"
        ) from None


def predict(*, model, workbook, csv=None, out_workbook=None, tracking_uri=None):
    """Predict every example of `workbook` with `model`; write the CSV and the workbook copy.

    Defaults: predictions/<workbook stem>.predictions.csv and .predictions.xlsx.
    Returns {'n_examples', 'accuracy' (None without labels), 'csv', 'workbook', 'sheet'}.
    """
    started = time.perf_counter()
    workbook = Path(workbook)
    csv, out_workbook = _outputs(workbook, csv, out_workbook)
    network = load_model(model, tracking_uri)
    X, y = _examples(workbook, network)
    n_classes = network.layer_sizes[-1]
    digits, scores = _predicted(network, X, workbook)
    columns = {ROW: np.arange(1, len(X) + 1), frames.DIGIT: digits}
    columns |= dict(zip(frames.score_columns(n_classes), scores.T, strict=True))
    texts = {header: _texts(values) for header, values in columns.items()}
    with atomic_paths([csv, out_workbook]) as (csv_tmp, workbook_tmp):
        csv_tmp.write_text(_csv(texts))
        sheet = xlsx.add_sheet(workbook, workbook_tmp, SHEET, texts)
    accuracy = None if y is None else metrics.accuracy(labels_to_classes(y, n_classes), digits)
    print(
        f"predict: {workbook} ({len(X)} examples) with {model} → {csv}, {out_workbook} "
        f"(sheet {sheet})"
        f" in {time.perf_counter() - started:.1f} s"
    )
    if accuracy is not None:
        correct = int(round(accuracy * len(X)))
        sheet_y = DataConfig().y_sheet
        print(f"accuracy {accuracy:.4f} ({correct} of {len(X)} labels in sheet {sheet_y})")
    return {
        "n_examples": len(X),
        "accuracy": accuracy,
        "csv": csv,
        "workbook": out_workbook,
        "sheet": sheet,
    }


def _outputs(workbook, csv, out_workbook):
    """The CSV and workbook paths to write, defaults (in OUT_DIR) filled in; never the input."""
    csv = Path(csv) if csv else OUT_DIR / f"{workbook.stem}.predictions.csv"
    out_workbook = (
        Path(out_workbook) if out_workbook else OUT_DIR / f"{workbook.stem}.predictions.xlsx"
    )
    for out in (csv, out_workbook):
        if out.resolve() == workbook.resolve():
            raise DigitnetError(f"{out} is the input workbook; choose another file to write to")
    return csv, out_workbook


def _examples(workbook, network):
    """(X, y or None) of `workbook`, checked as ingest checks, X as wide as the model's input."""
    n_features, *_, n_classes = network.layer_sizes
    defaults = DataConfig()
    X, y = read_for_prediction(
        workbook,
        x_sheet=defaults.x_sheet,
        y_sheet=defaults.y_sheet,
        n_classes=n_classes,
        max_file_mb=defaults.max_file_mb,
        max_unpacked_mb=defaults.max_unpacked_mb,
    )
    if X.shape[1] != n_features:
        raise DigitnetError(
            f"{workbook}: sheet {defaults.x_sheet} has {X.shape[1]} columns but the model takes "
            f"{n_features} (one per pixel); give it a workbook in the layout it was trained on"
        )
    return X, y


def _predicted(network, X, workbook):
    """frames.predict_digits, a value it refuses named by its cell in sheet X."""
    try:
        return frames.predict_digits(network, X)
    except InputError as exc:
        cell = cell_name(exc.row, exc.col)
        raise WorkbookError(
            f"{workbook}: sheet {DataConfig().x_sheet}, cell {cell} {exc.what}"
        ) from None


def _texts(values):
    """Numbers as text: whole numbers as such, scores at full precision (repr round-trips)."""
    if np.issubdtype(values.dtype, np.integer):
        return values.astype(str)
    return [repr(float(v)) for v in values]


def _csv(texts):
    """A header, then one line per example."""
    lines = [",".join(texts)] + [",".join(row) for row in zip(*texts.values(), strict=True)]
    return "\n".join(lines) + "\n"


def parser():
    arguments = argparse.ArgumentParser(
        prog="digitnet predict",
        description="Predict the digits of a workbook's sheet X with a trained network.",
        epilog=(
            "examples:\n  digitnet predict artifacts/model data/digits.xlsx\n"
            "  digitnet predict models:/digits@champion new.xlsx --csv new.csv"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    arguments.add_argument(
        "model",
        help="weights.npz, its directory, or an MLflow model URI (models:/digits@champion)",
    )
    arguments.add_argument("workbook", help="an .xlsx with sheet X and, optionally, labels in y")
    arguments.add_argument(
        "--csv", metavar="OUT.csv", help="where to write the CSV (default: in predictions/)"
    )
    arguments.add_argument(
        "--workbook",
        dest="out_workbook",
        metavar="OUT.xlsx",
        help="where to write the copy with the predictions sheet (default: in predictions/)",
    )
    arguments.add_argument(
        "--tracking-uri",
        metavar="URI",
        help="the MLflow store of a model URI (default: MLFLOW_TRACKING_URI, else ./mlflow.db)",
    )
    return arguments


def main(argv=None):
    args = parser().parse_args(sys.argv[1:] if argv is None else argv)
    with cli.reported():
        predict(
            model=args.model,
            workbook=args.workbook,
            csv=args.csv,
            out_workbook=args.out_workbook,
            tracking_uri=args.tracking_uri,
        )


def request_body(workbook, rows):
    """{'inputs': [[pixel, ...], ...]}: rows `rows` (first, last) of sheet X, numbered as Excel
    numbers them, as the body of a POST to a served model's /invocations."""
    workbook = Path(workbook)
    defaults = DataConfig()
    X, _ = read_for_prediction(
        workbook,
        x_sheet=defaults.x_sheet,
        y_sheet=defaults.y_sheet,
        n_classes=defaults.n_classes,
        max_file_mb=defaults.max_file_mb,
        max_unpacked_mb=defaults.max_unpacked_mb,
    )
    first, last = rows
    if not 1 <= first <= last <= len(X):
        raise DigitnetError(
            f"{workbook}: sheet {defaults.x_sheet} has rows 1-{len(X)}; --rows {first}-{last} "
            "is not among them"
        )
    return {"inputs": X[first - 1 : last].tolist()}


def _rows(text):
    """'3' or '1-5' as (first, last)."""
    first, _, last = text.partition("-")
    try:
        return int(first), int(last or first)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a row or a range FIRST-LAST") from None


def request_parser():
    arguments = argparse.ArgumentParser(
        prog="digitnet request",
        description=(
            "Print rows of a workbook's sheet X as the JSON body of a REST request to a model "
            "that `mlflow models serve` runs."
        ),
        epilog=(
            "example:\n  digitnet request data/digits.xlsx --rows 1-3 > request.json\n"
            "  curl -s 127.0.0.1:5001/invocations -H 'Content-Type: application/json' "
            "-d @request.json"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    arguments.add_argument("workbook", help="an .xlsx with sheet X")
    arguments.add_argument(
        "--rows",
        type=_rows,
        default=(1, 3),
        metavar="FIRST-LAST",
        help="rows of sheet X, as Excel numbers them (default 1-3)",
    )
    return arguments


def request_main(argv=None):
    args = request_parser().parse_args(sys.argv[1:] if argv is None else argv)
    with cli.reported():
        print(json.dumps(request_body(args.workbook, args.rows)))


if __name__ == "__main__":
    main()
