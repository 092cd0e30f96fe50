"""The Excel workbook in and out: ex3 layout, every check done on the way in.

Layout (Andrew Ng's ex3): sheet X holds one example per row, n_samples rows by n_features
columns of pixel values; sheet y holds the label of each example in column A, 1..n_classes, where
label n_classes stands for class 0 (10 is the digit 0). Neither sheet has a header row.

Reading goes through python-calamine, which parses a 5000 x 400 sheet in about a second, and
then checks the cells as whole arrays. Every problem is a `WorkbookError` whose one-line message
names the file, the sheet and the cell as Excel shows it (`KJ17`), so the user can go and fix it.
"""

import datetime
import tempfile
from pathlib import Path

import numpy as np
import xlsxwriter
from python_calamine import CalamineError, CalamineWorkbook

from digitnet.artifacts import atomic_path
from digitnet.errors import WorkbookError

# A fixed creation date: XlsxWriter stamps the current time otherwise, and the sample
# workbook must come out byte for byte the same on every build.
CREATED = datetime.datetime(2000, 1, 1)

_NUMBER_TYPES = (float, int)  # what calamine gives for numeric cells; bool is not among them


def cell_name(row, col):
    """Excel's A1-style name of the 0-based cell (row, col): (16, 295) -> "KJ17"."""
    letters = ""
    col += 1
    while col:
        col, digit = divmod(col - 1, 26)
        letters = chr(ord("A") + digit) + letters
    return f"{letters}{row + 1}"


def read_workbook(path, *, x_sheet="X", y_sheet="y", n_classes=10):
    """X shape (n_samples, n_features) float64 and y shape (n_samples,) int64, labels as stored.

    Raises `WorkbookError` naming the file, sheet and cell for anything that is not a clean
    numeric X with one whole-number label in 1..n_classes per row.
    """
    path = Path(path)
    with _open(path) as book:
        for sheet in (x_sheet, y_sheet):
            if sheet not in book.sheet_names:
                found = ", ".join(repr(name) for name in book.sheet_names)
                raise WorkbookError(
                    f"{path} has no sheet {sheet!r} (sheets found: {found}); "
                    f"rename the sheet that holds the data to {sheet!r}"
                )
        X = _numbers(_cells(book, path, x_sheet), path, x_sheet)
        y = _labels(_cells(book, path, y_sheet), path, y_sheet, n_classes)
    if len(X) != len(y):
        raise WorkbookError(
            f"{path}: sheet {x_sheet} has {len(X)} rows but sheet {y_sheet} has {len(y)}; "
            f"every example in {x_sheet} needs exactly one label in {y_sheet}"
        )
    return X, y


def write_workbook(path, X, y, *, x_sheet="X", y_sheet="y"):
    """Write X (n_samples, n_features) and labels y (n_samples,) in the ex3 layout.

    The file appears only when complete (written beside it, then renamed) and is byte-identical
    for identical input. Numbers are stored with 16 significant digits, XlsxWriter's format.
    """
    X, y = np.asarray(X, dtype=np.float64), np.asarray(y)
    if X.ndim != 2 or y.shape != (len(X),):
        raise ValueError(f"X must be 2-D and y 1-D of the same length, got {X.shape} and {y.shape}")
    if not np.isfinite(X).all():
        raise ValueError("X must hold finite numbers only, got NaN or infinity")
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"y must hold integer labels, got {y.dtype}")
    # XlsxWriter's scratch files (constant_memory mode) go to a directory of our own, because it
    # leaves some behind when a write fails; atomic_path throws away a partial workbook.
    with (
        atomic_path(path) as tmp,
        tempfile.TemporaryDirectory(prefix="digitnet-xlsx-") as scratch,
        xlsxwriter.Workbook(tmp, {"constant_memory": True, "tmpdir": scratch}) as book,
    ):
        book.set_properties({"created": CREATED})
        sheet = book.add_worksheet(x_sheet)
        for i, row in enumerate(X.tolist()):
            sheet.write_row(i, 0, row)
        sheet = book.add_worksheet(y_sheet)
        for i, label in enumerate(y.tolist()):  # Python ints, written as <v>10</v>
            sheet.write_number(i, 0, label)
    return Path(path)


def _open(path):
    """The workbook opened by calamine; a missing or unreadable file is a WorkbookError."""
    if not path.is_file():
        raise WorkbookError(f"workbook not found: {path}")
    try:
        return CalamineWorkbook.from_path(path)
    except (CalamineError, OSError) as error:
        raise WorkbookError(f"{path} is not an Excel .xlsx workbook ({error})") from None


def _cells(book, path, sheet):
    """The sheet's cells from A1 as an object array; blank and missing cells become ""."""
    try:
        # skip_empty_area=False keeps row 0 at Excel row 1 even when the top rows are blank.
        rows = book.get_sheet_by_name(sheet).to_python(skip_empty_area=False)
    except CalamineError as error:
        raise WorkbookError(
            f"{path}: sheet {sheet} cannot be read ({error}); the file may be damaged"
        ) from None
    width = max((len(row) for row in rows), default=0)
    if width == 0:
        raise WorkbookError(f"{path}: sheet {sheet} is empty")
    if any(len(row) != width for row in rows):
        rows = [row + [""] * (width - len(row)) for row in rows]
    cells = np.empty((len(rows), width), dtype=object)
    cells[:] = rows
    return cells


def _numbers(cells, path, sheet):
    """The cells as float64, or an error at the first cell that is not a finite number."""
    kinds = np.frompyfunc(type, 1, 1)(cells)
    numeric = np.logical_or.reduce([kinds == kind for kind in _NUMBER_TYPES])
    if not numeric.all():
        row, col = _first(~numeric)
        raise WorkbookError(
            f"{path}: sheet {sheet}, cell {cell_name(row, col)} {_describe(cells[row, col])}; "
            f"every cell of {sheet} must be a number, with no header row"
        )
    values = cells.astype(np.float64)
    finite = np.isfinite(values)
    if not finite.all():
        row, col = _first(~finite)
        raise WorkbookError(
            f"{path}: sheet {sheet}, cell {cell_name(row, col)} holds {_number(values[row, col])}; "
            f"every cell of {sheet} must be a finite number"
        )
    return values


def _labels(cells, path, sheet, n_classes):
    """Column A as int64 labels 1..n_classes; a value anywhere else is an error."""
    beyond_a = cells[:, 1:] != ""
    if beyond_a.any():
        row, col = _first(beyond_a)
        raise WorkbookError(
            f"{path}: sheet {sheet}, cell {cell_name(row, col + 1)} "
            f"{_describe(cells[row, col + 1])}; sheet {sheet} must hold the labels in column A only"
        )
    labels = _numbers(cells[:, :1], path, sheet)[:, 0]
    valid = (labels == np.round(labels)) & (labels >= 1) & (labels <= n_classes)
    if not valid.all():
        row = int(np.flatnonzero(~valid)[0])
        raise WorkbookError(
            f"{path}: sheet {sheet}, cell {cell_name(row, 0)} holds {_number(labels[row])}; "
            f"labels must be whole numbers 1..{n_classes} ({n_classes} stands for class 0)"
        )
    return labels.astype(np.int64)


def _first(mask):
    """(row, col) of the first True in reading order: along row 1, then row 2, and so on."""
    row, col = np.unravel_index(np.argmax(mask), mask.shape)
    return int(row), int(col)


def _describe(value):
    """A cell's content in words: 'is empty', "holds text 'abc'", 'holds TRUE (a boolean)'."""
    if isinstance(value, str):
        return "is empty" if value == "" else f"holds text {_clip(value)!r}"
    if isinstance(value, bool):
        return f"holds {str(value).upper()} (a boolean)"
    if isinstance(value, (datetime.date, datetime.time, datetime.timedelta)):
        return f"holds the date or time {value}"
    return f"holds {_number(value)}"


def _number(value):
    """A number in as few digits as name it: 2.5, 0, 11, 1e+300, nan, inf."""
    return f"{value:.15g}"


def _clip(text, limit=40):
    return text if len(text) <= limit else text[: limit - 3] + "..."
