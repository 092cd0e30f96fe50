"""digitnet predict: a CSV and a new sheet in a copy of the workbook, as the network predicts;
digitnet request: rows of a workbook as the body of a REST request to a served model."""

import csv
import hashlib
import json
import subprocess
import sys
import zipfile

import numpy as np
import openpyxl
import pytest
import xlsxwriter
from python_calamine import CalamineWorkbook

from digitnet import __main__ as digitnet_command
from digitnet import predict
from digitnet.network import Network, save
from digitnet.workbook import write_workbook
from support import sh, tiny_digits

SCORES = [f"p{d}" for d in range(10)]
N_WRONG = 3  # labels flipped in the labelled workbook, so that accuracy is 77/80, not 1


def perfect_network(n_features=16):
    """Reads tiny_digits exactly: class c lights pixel c, and output c looks at that pixel only.

    Its input scaling is not the identity, so a prediction that skipped it would be wrong.
    """
    shift, scale = np.full(n_features, 0.1), np.full(n_features, 2.0)
    W = np.zeros((n_features, 10))
    W[np.arange(10), np.arange(10)] = 20.0  # scaled lit pixel >= 0.35, unlit <= 0.05
    return Network([W], [np.full(10, -5.0)], "sigmoid", shift, scale)


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path, monkeypatch):
    """Every test works in its own directory, where the default outputs (predictions/) go."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def model(tmp_path):
    path = tmp_path / "model" / "weights.npz"
    save(path, perfect_network())
    return path


@pytest.fixture
def labelled(tmp_path):
    """The tiny digits with N_WRONG labels changed to another digit, so three are mispredicted."""
    X, labels = tiny_digits()
    labels[:N_WRONG] = 5
    path = tmp_path / "labelled.xlsx"
    write_workbook(path, X, labels)
    return path, X


def x_only_workbook(path, X):
    """A workbook with sheet X and no sheet y."""
    with xlsxwriter.Workbook(path) as book:
        sheet = book.add_worksheet("X")
        for i, row in enumerate(X.tolist()):
            sheet.write_row(i, 0, row)
    return path


def run(capsys, *args, main=predict.main):
    """Run the command in this process; (exit status, stdout, stderr)."""
    try:
        main([str(a) for a in args])
        status = 0
    except SystemExit as exc:
        status = exc.code
    out, err = capsys.readouterr()
    return status, out, err


def read_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def sheet(path, name):
    return CalamineWorkbook.from_path(path).get_sheet_by_name(name).to_python()


def md5(path):
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_csv_and_new_sheet_hold_the_networks_digits_and_scores(tmp_path, capsys, model, labelled):
    workbook, X = labelled
    status, _, _ = run(
        capsys, model, workbook, "--csv", tmp_path / "p.csv", "--workbook", tmp_path / "p.xlsx"
    )
    assert status == 0
    network = perfect_network()
    header, rows = read_csv(tmp_path / "p.csv")
    assert header == ["row", "digit", *SCORES]
    assert [int(r[0]) for r in rows] == list(range(1, len(X) + 1))
    assert [int(r[1]) for r in rows] == network.predict(X).tolist()
    np.testing.assert_array_equal(
        [[float(v) for v in r[2:]] for r in rows], network.predict_proba(X)
    )
    copied = sheet(tmp_path / "p.xlsx", "predictions")
    assert copied[0] == header
    assert [[float(v) for v in r] for r in copied[1:]] == [[float(v) for v in r] for r in rows]


def test_the_copy_keeps_the_original_sheets_and_opens_in_openpyxl(
    tmp_path, capsys, model, labelled
):
    workbook, _ = labelled
    status, _, _ = run(capsys, model, workbook, "--workbook", tmp_path / "p.xlsx")
    assert status == 0
    book = openpyxl.load_workbook(tmp_path / "p.xlsx")
    assert book.sheetnames == ["X", "y", "predictions"]
    assert book["predictions"].max_row == 81
    for name in ("X", "y"):
        assert sheet(tmp_path / "p.xlsx", name) == sheet(workbook, name)
    with zipfile.ZipFile(tmp_path / "p.xlsx") as copy, zipfile.ZipFile(workbook) as original:
        assert copy.testzip() is None
        assert copy.read("xl/worksheets/sheet1.xml") == original.read("xl/worksheets/sheet1.xml")


def test_accuracy_is_printed_when_the_workbook_has_labels(tmp_path, capsys, model, labelled):
    workbook, _ = labelled
    status, out, _ = run(capsys, model, workbook)
    assert status == 0
    assert out.splitlines()[-1] == "accuracy 0.9625 (77 of 80 labels in sheet y)"


def test_a_workbook_without_labels_gets_predictions_and_no_accuracy(tmp_path, capsys, model):
    X, _ = tiny_digits()
    workbook = x_only_workbook(tmp_path / "unlabelled.xlsx", X)
    status, out, _ = run(capsys, model, workbook)
    assert status == 0
    assert "accuracy" not in out
    _, rows = read_csv(tmp_path / "predictions/unlabelled.predictions.csv")
    assert [int(r[1]) for r in rows] == perfect_network().predict(X).tolist()
    copy = tmp_path / "predictions/unlabelled.predictions.xlsx"
    assert CalamineWorkbook.from_path(copy).sheet_names == [
        "X",
        "predictions",
    ]


def test_outputs_go_to_predictions_not_beside_the_workbook_in_data(tmp_path, capsys, model):
    """data/ is DVC's: a file written there would change what data.dvc tracks."""
    X, labels = tiny_digits()
    workbook = tmp_path / "data" / "digits.xlsx"
    write_workbook(workbook, X, labels)
    before = md5(workbook)
    status, out, _ = run(capsys, model, "data/digits.xlsx")
    assert status == 0
    assert out.startswith(
        f"predict: data/digits.xlsx (80 examples) with {model} → predictions/digits.predictions"
        ".csv, predictions/digits.predictions.xlsx (sheet predictions)"
    )
    assert sorted(p.name for p in (tmp_path / "predictions").iterdir()) == [
        "digits.predictions.csv",
        "digits.predictions.xlsx",
    ]
    assert [p.name for p in (tmp_path / "data").iterdir()] == ["digits.xlsx"]
    assert md5(workbook) == before


def test_outputs_named_on_the_command_line_go_there_even_into_data(tmp_path, capsys, model):
    X, labels = tiny_digits()
    write_workbook(tmp_path / "data" / "digits.xlsx", X, labels)
    csv_out, book_out = tmp_path / "data/out/p.csv", tmp_path / "data/out/p.xlsx"
    status, _, _ = run(capsys, model, "data/digits.xlsx", "--csv", csv_out, "--workbook", book_out)
    assert status == 0
    assert csv_out.is_file() and book_out.is_file()
    assert not (tmp_path / "predictions").exists()


def test_the_directory_of_weights_npz_is_a_model_too(tmp_path, capsys, model, labelled):
    workbook, _ = labelled
    status, out, _ = run(capsys, model.parent, workbook)
    assert status == 0
    assert out.splitlines()[-1] == "accuracy 0.9625 (77 of 80 labels in sheet y)"


def test_a_second_prediction_sheet_gets_its_own_name(tmp_path, capsys, model, labelled):
    workbook, _ = labelled
    run(capsys, model, workbook, "--workbook", tmp_path / "once.xlsx")
    status, out, _ = run(
        capsys, model, tmp_path / "once.xlsx", "--workbook", tmp_path / "twice.xlsx"
    )
    assert status == 0
    assert "(sheet predictions 2)" in out
    assert CalamineWorkbook.from_path(tmp_path / "twice.xlsx").sheet_names == [
        "X",
        "y",
        "predictions",
        "predictions 2",
    ]


def test_a_missing_model_is_one_error_line(tmp_path, capsys, labelled):
    workbook, _ = labelled
    status, out, err = run(capsys, tmp_path / "nowhere", workbook)
    assert status == 2
    assert err == (
        f"error: model not found: {tmp_path / 'nowhere'} (give a weights.npz, the directory that "
        "holds it, or an MLflow model URI such as models:/digits@champion)\n"
    )
    assert not (tmp_path / "predictions").exists()


def test_a_file_that_is_not_a_model_is_one_error_line(tmp_path, capsys, labelled):
    workbook, _ = labelled
    status, _, err = run(capsys, workbook, workbook, "--csv", tmp_path / "p.csv")
    assert status == 2
    assert err == (
        f"error: {workbook} is not a digitnet model (the weights.npz that the train stage writes)\n"
    )


def test_a_workbook_with_another_number_of_columns_is_refused(tmp_path, capsys, model):
    X, labels = tiny_digits()
    write_workbook(tmp_path / "narrow.xlsx", X[:, :15], labels)
    status, _, err = run(capsys, model, tmp_path / "narrow.xlsx")
    assert status == 2
    assert err == (
        f"error: {tmp_path / 'narrow.xlsx'}: sheet X has 15 columns but the model takes 16 (one "
        "per pixel); give it a workbook in the layout it was trained on\n"
    )
    assert not (tmp_path / "predictions").exists()


def test_a_bad_cell_is_named_as_ingest_names_it(tmp_path, capsys, model):
    X, _ = tiny_digits()
    path = tmp_path / "bad.xlsx"
    with xlsxwriter.Workbook(path) as book:
        rows = book.add_worksheet("X")
        for i, row in enumerate(X.tolist()):
            rows.write_row(i, 0, row)
        rows.write_string(6, 2, "abc")
    status, _, err = run(capsys, model, path)
    assert status == 2
    assert err == (
        f"error: {path}: sheet X, cell C7 holds text 'abc'; every cell of X must be a number, "
        "with no header row\n"
    )
    assert not (tmp_path / "predictions").exists()


def test_a_label_out_of_range_is_named(tmp_path, capsys, model):
    X, labels = tiny_digits()
    labels[4] = 11
    write_workbook(tmp_path / "labels.xlsx", X, labels)
    status, _, err = run(capsys, model, tmp_path / "labels.xlsx")
    assert status == 2
    assert err == (
        f"error: {tmp_path / 'labels.xlsx'}: sheet y, cell A5 holds 11; "
        "labels must be whole numbers 1..10 (10 stands for class 0)\n"
    )


def test_the_input_workbook_is_never_overwritten(tmp_path, capsys, model, labelled):
    workbook, _ = labelled
    before = md5(workbook)
    status, _, err = run(capsys, model, workbook, "--workbook", workbook)
    assert status == 2
    assert err == f"error: {workbook} is the input workbook; choose another file to write to\n"
    assert md5(workbook) == before


def test_a_model_uri_needs_an_existing_store(tmp_path, capsys, labelled):
    workbook, _ = labelled
    store = tmp_path / "store.db"
    status, _, err = run(
        capsys, "runs:/0123abc/model", workbook, "--tracking-uri", f"sqlite:///{store}"
    )
    assert status == 2
    assert err == f"error: no MLflow store at {store} to find runs:/0123abc/model in\n"
    assert not store.exists()


@pytest.mark.parametrize(
    "model, is_uri",
    [
        ("runs:/abc/model", True),
        ("models:/digits/1", True),
        ("file:///tmp/x", True),
        ("artifacts/model", False),
        ("weights.npz", False),
        ("C:/models/weights.npz", False),
    ],
)
def test_model_uris_are_told_from_paths(model, is_uri):
    assert predict.is_model_uri(model) is is_uri


def test_digitnet_predict_is_the_same_command(tmp_path, capsys, model, labelled):
    workbook, _ = labelled
    status, out, _ = run(capsys, "predict", model, workbook, main=digitnet_command.main)
    assert status == 0
    assert out.splitlines()[-1] == "accuracy 0.9625 (77 of 80 labels in sheet y)"
    status, _, err = run(capsys, "predict", tmp_path / "none", workbook, main=digitnet_command.main)
    assert status == 2
    assert err == (
        f"error: model not found: {tmp_path / 'none'} (give a weights.npz, the directory that "
        "holds it, or an MLflow model URI such as models:/digits@champion)\n"
    )


def request(capsys, *args):
    return run(capsys, "request", *args, main=digitnet_command.main)


def test_request_prints_rows_of_sheet_x_as_an_inputs_body(capsys, labelled):
    workbook, X = labelled
    status, out, _ = request(capsys, workbook, "--rows", "4-6")
    assert status == 0
    assert json.loads(out) == {"inputs": X[3:6].tolist()}
    status, out, _ = request(capsys, workbook)
    assert json.loads(out) == {"inputs": X[:3].tolist()}  # rows 1-3 by default
    status, out, _ = request(capsys, workbook, "--rows", "80")
    assert json.loads(out) == {"inputs": X[79:80].tolist()}


def test_request_rows_outside_the_sheet_are_an_error(capsys, labelled):
    workbook, _ = labelled
    status, out, err = request(capsys, workbook, "--rows", "79-81")
    assert (status, out) == (2, "")
    assert err == f"error: {workbook}: sheet X has rows 1-80; --rows 79-81 is not among them\n"


def test_request_rows_must_be_a_row_or_a_range(capsys, labelled):
    workbook, _ = labelled
    status, _, err = request(capsys, workbook, "--rows", "first")
    assert status == 2
    assert err.splitlines()[-1] == (
        "digitnet request: error: argument --rows: 'first' is not a row or a range FIRST-LAST"
    )


# What the network cannot answer, and places that cannot be written: one line, nothing written.


def big_workbook(path, row, col, value=1e308):
    """The tiny digits, unlabelled, with `value` in the 0-based cell (row, col) of sheet X."""
    X, _ = tiny_digits()
    X[row, col] = value
    return x_only_workbook(path, X)


def test_a_pixel_that_overflows_once_scaled_is_named_by_its_cell(tmp_path, capsys):
    network = perfect_network()
    network.scale = np.full(16, 0.5)  # (1e308 - 0.1) / 0.5 is beyond float64
    save(tmp_path / "weights.npz", network)
    workbook = big_workbook(tmp_path / "big.xlsx", row=2, col=2)
    status, out, err = run(capsys, tmp_path / "weights.npz", workbook)
    assert (status, out) == (2, "")
    assert err == (
        f"error: {workbook}: sheet X, cell C3 holds 1e+308, which overflows once scaled; "
        "pixels must be of the size the model was trained on\n"
    )
    assert not (tmp_path / "predictions").exists()


def test_a_pixel_that_overflows_in_the_network_is_named_by_its_cell(tmp_path, capsys, model):
    """Scaled, 1e308 is 5e307; the weight 20 makes it 1e309 in the first product: NumPy would
    warn and answer the row with a score it cannot compute."""
    workbook = big_workbook(tmp_path / "big.xlsx", row=4, col=1)
    status, out, err = run(capsys, model, workbook)
    assert (status, out) == (2, "")
    assert err == (
        f"error: {workbook}: sheet X, cell B5 holds 1e+308, which overflows in the network; "
        "pixels must be of the size the model was trained on\n"
    )
    assert not (tmp_path / "predictions").exists()


def test_large_pixels_that_the_network_can_take_are_predicted(tmp_path, capsys, model):
    workbook = big_workbook(tmp_path / "big.xlsx", row=4, col=1, value=1e300)
    status, _, _ = run(capsys, model, workbook)
    assert status == 0
    _, rows = read_csv(tmp_path / "predictions/big.predictions.csv")
    assert rows[4][1] == "1"  # the pixel of class 1 lit beyond doubt
    assert all(np.isfinite(float(v)) for row in rows for v in row[2:])


@pytest.fixture
def read_only_dir(tmp_path):
    """A directory on a read-only tmpfs: root can write anywhere chmod forbids, not there."""
    mount_point = tmp_path / "read-only"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a read-only tmpfs here: {mounted.stderr.strip()}")
    yield mount_point
    subprocess.run(["umount", str(mount_point)], check=True)


def test_a_csv_on_a_read_only_filesystem_is_one_line_and_nothing_is_written(
    tmp_path, read_only_dir, model, labelled
):
    """A real process: one line, exit 2, no traceback, and the workbook copy not written."""
    workbook, _ = labelled
    csv_out = read_only_dir / "p.csv"
    result = sh(
        [sys.executable, "-m", "digitnet", "predict", model, workbook, "--csv", csv_out],
        cwd=tmp_path,
        check=False,
    )
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        f"error: cannot write {csv_out}: read-only file system; nothing was written\n"
    )
    assert not (tmp_path / "predictions").exists()


def test_a_workbook_on_a_read_only_filesystem_leaves_no_csv_either(
    tmp_path, capsys, read_only_dir, model, labelled
):
    workbook, _ = labelled
    csv_out, book_out = tmp_path / "out" / "p.csv", read_only_dir / "p.xlsx"
    status, out, err = run(capsys, model, workbook, "--csv", csv_out, "--workbook", book_out)
    assert (status, out) == (2, "")
    assert err == f"error: cannot write {book_out}: read-only file system; nothing was written\n"
    assert list((tmp_path / "out").iterdir()) == []
    assert list(read_only_dir.iterdir()) == []


def test_predictions_existing_as_a_file_is_one_line(tmp_path, capsys, model, labelled):
    workbook, _ = labelled
    (tmp_path / "predictions").write_text("not a folder")
    status, out, err = run(capsys, model, workbook)
    assert (status, out) == (2, "")
    assert err == (
        "error: cannot write predictions/labelled.predictions.csv: predictions is a file, not a "
        "directory; nothing was written\n"
    )
    assert (tmp_path / "predictions").read_text() == "not a folder"


def test_an_earlier_prediction_stays_whole_when_the_next_cannot_be_written(
    tmp_path, capsys, model, labelled
):
    workbook, _ = labelled
    csv_out, book_out = tmp_path / "p.csv", tmp_path / "p.xlsx"
    assert run(capsys, model, workbook, "--csv", csv_out, "--workbook", book_out)[0] == 0
    before = md5(csv_out), md5(book_out)
    status, _, err = run(capsys, model, workbook, "--csv", csv_out, "--workbook", tmp_path)
    assert status == 2
    assert err == f"error: cannot write {tmp_path}: it is a directory; nothing was written\n"
    assert (md5(csv_out), md5(book_out)) == before
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
