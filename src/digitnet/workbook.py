"""The Excel workbook in and out: ex3 layout, every check done on the way in.

Layout (Andrew Ng's ex3): sheet X holds one example per row, n_samples rows by n_features
columns of pixel values; sheet y holds the label of each example in column A, 1..n_classes, where
label n_classes stands for class 0 (10 is the digit 0). Neither sheet has a header row.

Reading has two ways, both through calamine. The fast one is fastexcel: a sheet that is a
rectangle of finite numbers from A1 comes back as one Arrow column per Excel column, which
become the float64 array in one copy. Any sheet that is not (a header, a blank, text, a date, a
boolean, NaN, a stray cell outside the rectangle) is read again cell by cell by python-calamine,
which finds the first bad cell. Every problem is a `WorkbookError` whose one-line message names
the file, the sheet and the cell as Excel shows it (`KJ17`), so the user can go and fix it; the
fast way never raises one of its own. Before calamine sees a file, `zipparts.check` refuses zip
bombs and files that are no .xlsx.
"""

import datetime
import itertools
import logging
import tempfile
from pathlib import Path

import fastexcel
import numpy as np
from python_calamine import CalamineError, CalamineWorkbook

from digitnet import zipparts
from digitnet.artifacts import atomic_path
from digitnet.errors import WorkbookError
from digitnet.zipparts import MB

# A fixed creation date: XlsxWriter stamps the current time otherwise, and the sample
# workbook must come out byte for byte the same on every build.
CREATED = datetime.datetime(2000, 1, 1)

# fastexcel logs a WARNING on stderr for a column it cannot type; such a sheet goes to the
# checked read, whose one error line names the cell, so the warning would only be noise.
logging.getLogger("fastexcel").setLevel(logging.ERROR)

_NUMBER_TYPES = (float, int)  # what calamine gives for numeric cells; bool is not among them


def cell_name(row, col):
    """Excel's A1-style name of the 0-based cell (row, col): (16, 295) -> "KJ17"."""
    letters = ""
    col += 1
    while col:
        col, digit = divmod(col - 1, 26)
        letters = chr(ord("A") + digit) + letters
    return f"{letters}{row + 1}"


def read_workbook(
    path, *, x_sheet="X", y_sheet="y", n_classes=10, max_file_mb=200, max_unpacked_mb=1024
):
    """X shape (n_samples, n_features) float64 and y shape (n_samples,) int64, labels as stored.

    Raises `WorkbookError` naming the file, sheet and cell for anything that is not a clean
    numeric X with one whole-number label in 1..n_classes per row and at least two classes, and
    for a file over `max_file_mb` or unpacking to over `max_unpacked_mb` (the 5000 x 400 sample
    is 7 MB and unpacks to 52 MB).
    """
    path = Path(path)
    limits = (max_file_mb * MB, max_unpacked_mb * MB)
    X, y = _read(path, x_sheet, y_sheet, n_classes, *limits, labels_required=True)
    if (y == y[0]).all():
        raise WorkbookError(
            f"{path}: sheet {y_sheet} holds only label {y[0]}; "
            "at least two classes are needed to learn"
        )
    return X, y


def read_for_prediction(
    path, *, x_sheet="X", y_sheet="y", n_classes=10, max_file_mb=200, max_unpacked_mb=1024
):
    """X as `read_workbook` reads it, and the labels of sheet y, or None if there is no such
    sheet: a workbook to predict on needs no labels, and may hold a single class."""
    path = Path(path)
    limits = (max_file_mb * MB, max_unpacked_mb * MB)
    return _read(path, x_sheet, y_sheet, n_classes, *limits, labels_required=False)


def _read(path, x_sheet, y_sheet, n_classes, max_file, max_unpacked, labels_required):
    if not path.is_file():
        raise WorkbookError(f"workbook not found: {path}")
    zipparts.check(path, max_file, max_unpacked)
    X, y, with_labels = _fast_read(path, x_sheet, y_sheet, labels_required)
    if y is not None:
        y = _label_values(y[:, None], path, y_sheet, n_classes)
    if X is None or (with_labels and y is None):
        X, y = _checked_read(path, x_sheet, y_sheet, n_classes, labels_required, X)
    if y is not None and len(X) != len(y):
        raise WorkbookError(
            f"{path}: sheet {x_sheet} has {len(X)} rows but sheet {y_sheet} has {len(y)}; "
            f"every example in {x_sheet} needs exactly one label in {y_sheet}"
        )
    return X, y


def _fast_read(path, x_sheet, y_sheet, labels_required):
    """(X, y, whether labels are read): X and y (float64, one column) for each sheet that is a
    rectangle of finite numbers from A1, None for a sheet that needs a closer look."""
    try:
        reader = fastexcel.read_excel(path)
    except fastexcel.FastExcelError:  # the checked read names what is wrong
        return None, None, labels_required
    with_labels = labels_required or y_sheet in reader.sheet_names
    if x_sheet not in reader.sheet_names or (labels_required and y_sheet not in reader.sheet_names):
        return None, None, with_labels  # the checked read names the missing sheet
    X = _fast_numbers(reader, x_sheet)
    y = _fast_numbers(reader, y_sheet) if with_labels and X is not None else None
    return X, (y[:, 0] if y is not None and y.shape[1] == 1 else None), with_labels


def _fast_numbers(reader, sheet):
    """The sheet as float64 (n_rows, n_cols) if it is a rectangle of finite numbers from A1."""
    # skip_rows=0 keeps blank top rows (as nulls); "strict" refuses a column of mixed types.
    try:
        loaded = reader.load_sheet(
            sheet, header_row=None, skip_rows=0, schema_sample_rows=None, dtype_coercion="strict"
        )
    except fastexcel.FastExcelError:  # mixed types, or damage: the checked read names it
        return None
    columns = loaded.selected_columns
    if not columns or columns[0].absolute_index != 0:  # empty, or column A blank
        return None
    if any(column.dtype != "float" for column in columns):
        return None
    try:
        batch = loaded.to_arrow()
    except fastexcel.FastExcelError:
        return None
    del loaded  # calamine's copy of the sheet, about 70 bytes a cell
    if any(column.null_count or str(column.type) != "double" for column in batch.columns):
        return None
    values = np.column_stack([_float64(column) for column in batch.columns])
    # NaN makes min and max NaN, and an infinity is one of them: no array of flags is needed.
    return values if np.isfinite([values.min(), values.max()]).all() else None


def _float64(column):
    """An Arrow float64 column without nulls as a NumPy view of its values buffer.

    (Arrow's own to_numpy would first import pandas, 0.15 s of a stage's start.)
    """
    return np.frombuffer(column.buffers()[1], np.float64, len(column), column.offset * 8)


def _checked_read(path, x_sheet, y_sheet, n_classes, labels_required, X=None):
    """The cell-by-cell read, which names the first bad cell of a sheet; X, if given, is taken
    as read (the fast read found it clean) and only the labels are read again."""
    with _open(path) as book:
        with_labels = labels_required or y_sheet in book.sheet_names
        wanted = (x_sheet, y_sheet) if with_labels else (x_sheet,)
        for sheet in wanted:
            if sheet not in book.sheet_names:
                found = ", ".join(repr(name) for name in book.sheet_names)
                raise WorkbookError(
                    f"{path} has no sheet {sheet!r} (sheets found: {found}); "
                    f"rename the sheet that holds the data to {sheet!r}"
                )
        if X is None:
            X = _number_sheet(book, path, x_sheet)
        if not with_labels:
            return X, None
        return X, _labels(_cells(book, path, y_sheet), path, y_sheet, n_classes)


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
    import xlsxwriter  # here, not on top: reading, as the ingest stage does, never needs it

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
    """The workbook opened by calamine; an unreadable file is a WorkbookError."""
    try:
        return CalamineWorkbook.from_path(path)
    except (CalamineError, OSError) as error:
        raise WorkbookError(f"{path} is not an Excel .xlsx workbook ({error})") from None


def _number_sheet(book, path, sheet):
    """The sheet as float64, like `_numbers(_cells(...))` but in one step for the usual sheet.

    A rectangle of finite numbers converts straight from calamine's rows in one array
    operation; anything else takes the cell-by-cell way, which names the first bad cell.
    (bool is an int subclass, but type() tells it apart, so TRUE is caught.)
    """
    rows = _rows(book, path, sheet)
    kinds = set(map(type, itertools.chain.from_iterable(rows)))
    if rows and rows[0] and kinds <= set(_NUMBER_TYPES) and len(set(map(len, rows))) == 1:
        values = np.array(rows, dtype=np.float64)
        if np.isfinite(values).all():
            return values
    return _numbers(_as_cells(rows, path, sheet), path, sheet)


def _rows(book, path, sheet):
    """The sheet's rows from A1, as calamine gives them: lists of Python values."""
    try:
        # skip_empty_area=False keeps row 0 at Excel row 1 even when the top rows are blank.
        return book.get_sheet_by_name(sheet).to_python(skip_empty_area=False)
    except CalamineError as error:
        raise WorkbookError(
            f"{path}: sheet {sheet} cannot be read ({error}); the file may be damaged"
        ) from None


def _cells(book, path, sheet):
    """The sheet's cells from A1 as an object array; blank and missing cells become ""."""
    return _as_cells(_rows(book, path, sheet), path, sheet)


def _as_cells(rows, path, sheet):
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
    return _label_values(_numbers(cells[:, :1], path, sheet), path, sheet, n_classes)


def _label_values(numbers, path, sheet, n_classes):
    """Finite numbers (n, 1) as int64 labels; an error at the first one outside 1..n_classes."""
    labels = numbers[:, 0]
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
