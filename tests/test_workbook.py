"""Specification of the workbook boundary: the ex3 layout in, every mistake named by its cell."""

import datetime
import functools
import math
import struct
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import xlsxwriter

from digitnet import workbook
from digitnet.errors import WorkbookError
from digitnet.workbook import cell_name, read_workbook, write_workbook
from digitnet.zipparts import MAX_MEMBERS, MB
from support import X_GOOD, Y_GOOD, edit_part, sh, with_cell, write_entity_bomb, write_raw

BOOK = "digits.xlsx"


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path, monkeypatch):
    """Work in tmp_path, so messages show the short relative name `digits.xlsx`."""
    monkeypatch.chdir(tmp_path)


def write_good(path):
    write_raw(path, {"X": X_GOOD, "y": Y_GOOD})


def good_bytes():
    write_good("good.xlsx")
    with open("good.xlsx", "rb") as f:
        return f.read()


def make_csv(path):
    with open(path, "w") as f:
        f.write("0,0.5,1\n0.25,0,0.75\n")


def make_empty(path):
    open(path, "wb").close()


def make_ole2(path):
    """The 8-byte signature of an OLE2 compound file, as a password-protected .xlsx starts."""
    with open(path, "wb") as f:
        f.write(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504))


def edited_good(part, edit):
    """A builder of the good workbook with the text of `part` passed through `edit`."""

    def make(path):
        write_good(path)
        edit_part(path, part, edit)

    return make


SHEET_X = "xl/worksheets/sheet1.xml"
make_doctype = edited_good(SHEET_X, lambda xml: xml.replace("?>\n", "?>\n<!DOCTYPE r>"))
# Sheet X padded with 2 MB of spaces, which deflate packs about 1000 fold.
make_tight_member = edited_good(
    SHEET_X, lambda xml: xml.replace("<sheetData>", " " * 2 * MB + "<sheetData>")
)
# A valid zip whose sheet X is cut off mid-XML.
make_damaged_sheet = edited_good(SHEET_X, lambda xml: xml[: len(xml) // 2])


def make_many_members(path):
    write_good(path)
    with zipfile.ZipFile(path, "a") as archive:
        for i in range(MAX_MEMBERS + 1):
            archive.writestr(f"docProps/custom{i}.bin", b"")


def make_damaged_member(path):
    """The good workbook with the packed bytes of its first member overwritten: a deflate block
    of type 3, which does not exist."""
    data = bytearray(good_bytes())
    with zipfile.ZipFile("good.xlsx") as archive:
        info = archive.infolist()[0]
    start = info.header_offset + 30 + len(info.filename)  # no extra field in XlsxWriter's zips
    data[start : start + info.compress_size] = b"\xff" * info.compress_size
    with open(path, "wb") as f:
        f.write(data)


def make_other_zip(path):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("notes.txt", "not a workbook")


def make_truncated(path):
    data = good_bytes()
    with open(path, "wb") as f:
        f.write(data[: len(data) // 2])


def sheets(**changes):
    """The good workbook's sheets with some replaced (None drops a sheet)."""
    book = {"X": X_GOOD, "y": Y_GOOD} | changes
    return lambda path: write_raw(path, {k: v for k, v in book.items() if v is not None})


WIDE_X = with_cell([[0.5] * 296 for _ in range(17)], 16, 295, "abc")  # the KJ17 of the docs
NOT_NUMBERS = "every cell of X must be a number, with no header row"
NOT_LABELS = "every cell of y must be a number, with no header row"
LABELS_1_10 = "labels must be whole numbers 1..10 (10 stands for class 0)"

BAD_WORKBOOKS = [
    ("missing file", None, "workbook not found: digits.xlsx"),
    (
        "csv renamed to xlsx",
        make_csv,
        "digits.xlsx is not an Excel .xlsx workbook (not a zip archive)",
    ),
    ("empty file", make_empty, "digits.xlsx is not an Excel .xlsx workbook (not a zip archive)"),
    (
        "zip of something else",
        make_other_zip,
        "digits.xlsx is not an Excel .xlsx workbook (File not found '_rels/.rels')",
    ),
    (
        "truncated file",
        make_truncated,
        "digits.xlsx is not an Excel .xlsx workbook (not a zip archive)",
    ),
    (
        "encrypted workbook",
        make_ole2,
        "digits.xlsx is encrypted or an old .xls file (an OLE2 container, not an .xlsx zip); "
        "save it unencrypted as .xlsx",
    ),
    (
        "entity declarations in the shared strings",
        functools.partial(write_entity_bomb, part="xl/sharedStrings.xml"),
        "digits.xlsx: xl/sharedStrings.xml declares XML entities (<!ENTITY ...>), which "
        "workbooks never need; refusing it as a possible XML bomb",
    ),
    (
        "entity declarations in the workbook part",
        functools.partial(write_entity_bomb, part="xl/workbook.xml"),
        "digits.xlsx: xl/workbook.xml declares XML entities (<!ENTITY ...>), which "
        "workbooks never need; refusing it as a possible XML bomb",
    ),
    (
        "document type without entities",
        make_doctype,
        "digits.xlsx: xl/worksheets/sheet1.xml declares a document type (<!DOCTYPE ...>), "
        "which workbooks never need; refusing it as a possible XML bomb",
    ),
    (
        "member packed a thousand fold",
        make_tight_member,
        "digits.xlsx: xl/worksheets/sheet1.xml would unpack to 2.0 MB from 2.4 KB, over 100 "
        "times its packed size (sheets pack 5 to 15 fold); refusing it as a possible zip bomb",
    ),
    (
        "thousands of members",
        make_many_members,
        "digits.xlsx: its zip directory lists 10011 files in 673.4 KB, over the limits of 10000 "
        "files and 10.0 MB (a workbook has a few dozen); refusing it as a possible zip bomb",
    ),
    (
        "damaged member",
        make_damaged_member,
        "digits.xlsx is not an Excel .xlsx workbook "
        "(Error -3 while decompressing data: invalid block type)",
    ),
    (
        "damaged sheet",
        make_damaged_sheet,
        "digits.xlsx: sheet X cannot be read (syntax error: tag not closed: `>` not found before "
        "end of input); the file may be damaged",
    ),
    (
        "no sheet X",
        sheets(X=None, Sheet1=X_GOOD),
        "digits.xlsx has no sheet 'X' (sheets found: 'y', 'Sheet1'); "
        "rename the sheet that holds the data to 'X'",
    ),
    (
        "no sheet y",
        sheets(y=None),
        "digits.xlsx has no sheet 'y' (sheets found: 'X'); "
        "rename the sheet that holds the data to 'y'",
    ),
    ("empty X", sheets(X=[]), "digits.xlsx: sheet X is empty"),
    ("empty y", sheets(y=[]), "digits.xlsx: sheet y is empty"),
    (
        "header row",
        sheets(X=[["pixel1", "pixel2", "pixel3"], *X_GOOD]),
        f"digits.xlsx: sheet X, cell A1 holds text 'pixel1'; {NOT_NUMBERS}",
    ),
    (
        "text deep inside X",
        sheets(X=WIDE_X, y=[[1]] * 17),
        f"digits.xlsx: sheet X, cell KJ17 holds text 'abc'; {NOT_NUMBERS}",
    ),
    (
        "number stored as text",
        sheets(X=with_cell(X_GOOD, 1, 2, "0.75")),
        f"digits.xlsx: sheet X, cell C2 holds text '0.75'; {NOT_NUMBERS}",
    ),
    (
        "long text clipped",
        sheets(X=with_cell(X_GOOD, 0, 0, "x" * 100)),
        f"digits.xlsx: sheet X, cell A1 holds text '{'x' * 37}...'; {NOT_NUMBERS}",
    ),
    (
        "blank cell inside X",
        sheets(X=with_cell(X_GOOD, 1, 1, None)),
        f"digits.xlsx: sheet X, cell B2 is empty; {NOT_NUMBERS}",
    ),
    (
        "short row",
        sheets(X=[X_GOOD[0], X_GOOD[1][:2], X_GOOD[2]]),
        f"digits.xlsx: sheet X, cell C2 is empty; {NOT_NUMBERS}",
    ),
    (
        "data not starting at A1",
        sheets(X=[[None, None, None], *X_GOOD], y=[[1]] * 4),
        f"digits.xlsx: sheet X, cell A1 is empty; {NOT_NUMBERS}",
    ),
    (
        "column A blank",
        sheets(X=[[None, *row] for row in X_GOOD]),
        f"digits.xlsx: sheet X, cell A1 is empty; {NOT_NUMBERS}",
    ),
    (
        "two blank rows on top",
        sheets(X=[[None] * 3, [None] * 3, *X_GOOD], y=[[1]] * 5),
        f"digits.xlsx: sheet X, cell A1 is empty; {NOT_NUMBERS}",
    ),
    (
        "a blank column inside X",
        sheets(X=[[row[0], None, *row[1:]] for row in X_GOOD]),
        f"digits.xlsx: sheet X, cell B1 is empty; {NOT_NUMBERS}",
    ),
    (
        "a stray number below X",
        sheets(X=[*X_GOOD, [None] * 3, [None, None, 7]], y=[[1], [2], [3], [4], [5]]),
        f"digits.xlsx: sheet X, cell A4 is empty; {NOT_NUMBERS}",
    ),
    (
        "boolean below the rows a reader samples for types",
        sheets(X=with_cell([[0.5, 0.25]] * 1100, 1049, 1, True), y=[[1], [2]] * 550),
        f"digits.xlsx: sheet X, cell B1050 holds TRUE (a boolean); {NOT_NUMBERS}",
    ),
    (
        "text below the rows a reader samples for types",
        sheets(X=with_cell([[0.5, 0.25]] * 1100, 1099, 0, "x"), y=[[1], [2]] * 550),
        f"digits.xlsx: sheet X, cell A1100 holds text 'x'; {NOT_NUMBERS}",
    ),
    (
        "a column of text",
        sheets(X=[["a", *row[1:]] for row in X_GOOD]),
        f"digits.xlsx: sheet X, cell A1 holds text 'a'; {NOT_NUMBERS}",
    ),
    (
        "a column of booleans",
        sheets(X=[[True, *row[1:]] for row in X_GOOD]),
        f"digits.xlsx: sheet X, cell A1 holds TRUE (a boolean); {NOT_NUMBERS}",
    ),
    (
        "boolean",
        sheets(X=with_cell(X_GOOD, 0, 2, True)),
        f"digits.xlsx: sheet X, cell C1 holds TRUE (a boolean); {NOT_NUMBERS}",
    ),
    (
        "date",
        sheets(X=with_cell(X_GOOD, 2, 0, datetime.date(2020, 1, 2))),
        f"digits.xlsx: sheet X, cell A3 holds the date or time 2020-01-02; {NOT_NUMBERS}",
    ),
    (
        "NaN",
        sheets(X=with_cell(X_GOOD, 1, 1, math.nan)),
        "digits.xlsx: sheet X, cell B2 holds nan; every cell of X must be a finite number",
    ),
    (
        "minus infinity",
        sheets(X=with_cell(X_GOOD, 2, 2, -math.inf)),
        "digits.xlsx: sheet X, cell C3 holds -inf; every cell of X must be a finite number",
    ),
    (
        "fewer labels than examples",
        sheets(y=Y_GOOD[:2]),
        "digits.xlsx: sheet X has 3 rows but sheet y has 2; "
        "every example in X needs exactly one label in y",
    ),
    (
        "labels in two columns",
        sheets(y=with_cell(Y_GOOD, 1, 1, 3)),
        "digits.xlsx: sheet y, cell B2 holds 3; sheet y must hold the labels in column A only",
    ),
    (
        "labels in a row",
        sheets(y=[[10, 1, 9]]),
        "digits.xlsx: sheet y, cell B1 holds 1; sheet y must hold the labels in column A only",
    ),
    (
        "labels in column B",
        sheets(y=[[None, label] for [label] in Y_GOOD]),
        "digits.xlsx: sheet y, cell B1 holds 10; sheet y must hold the labels in column A only",
    ),
    (
        "labels stored as text",
        sheets(y=[["10"], ["1"], ["9"]]),
        f"digits.xlsx: sheet y, cell A1 holds text '10'; {NOT_LABELS}",
    ),
    (
        "label header",
        sheets(y=[["label"], *Y_GOOD]),
        f"digits.xlsx: sheet y, cell A1 holds text 'label'; {NOT_LABELS}",
    ),
    (
        "blank label",
        sheets(y=with_cell(Y_GOOD, 1, 0, None)),
        f"digits.xlsx: sheet y, cell A2 is empty; {NOT_LABELS}",
    ),
    (
        "fractional label",
        sheets(y=with_cell(Y_GOOD, 1, 0, 2.5)),
        f"digits.xlsx: sheet y, cell A2 holds 2.5; {LABELS_1_10}",
    ),
    (
        "label 0 for the digit 0",
        sheets(y=with_cell(Y_GOOD, 0, 0, 0)),
        f"digits.xlsx: sheet y, cell A1 holds 0; {LABELS_1_10}",
    ),
    (
        "negative label",
        sheets(y=with_cell(Y_GOOD, 2, 0, -3)),
        f"digits.xlsx: sheet y, cell A3 holds -3; {LABELS_1_10}",
    ),
    (
        "label above n_classes",
        sheets(y=with_cell(Y_GOOD, 2, 0, 11)),
        f"digits.xlsx: sheet y, cell A3 holds 11; {LABELS_1_10}",
    ),
    (
        "a single class",
        sheets(y=[[3], [3], [3]]),
        "digits.xlsx: sheet y holds only label 3; at least two classes are needed to learn",
    ),
    (
        "infinite label",
        sheets(y=with_cell(Y_GOOD, 0, 0, math.inf)),
        "digits.xlsx: sheet y, cell A1 holds inf; every cell of y must be a finite number",
    ),
]


@pytest.mark.parametrize(
    ("make", "message"),
    [case[1:] for case in BAD_WORKBOOKS],
    ids=[case[0] for case in BAD_WORKBOOKS],
)
def test_read_workbook_names_the_problem_in_one_line(make, message):
    if make is not None:
        make(BOOK)
    with pytest.raises(WorkbookError) as caught:
        read_workbook(BOOK)
    assert str(caught.value) == message


def test_a_sheet_the_fast_reader_cannot_type_is_one_error_line_with_no_warning(tmp_path):
    sheets(X=[[row[0], None, *row[1:]] for row in X_GOOD])(BOOK)  # fastexcel warns of column B
    result = sh(
        ["python", "-m", "digitnet.stages.ingest", f"data.workbook={BOOK}", "paths.ingested=x.npz"],
        tmp_path,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr == f"error: digits.xlsx: sheet X, cell B1 is empty; {NOT_NUMBERS}\n"


@pytest.mark.parametrize(
    "rows",
    [X_GOOD, [[0, 1, 2], [3, 4, 5], [6, 7, 255]], [[1e-300, -2.5e300, 0.1 + 0.2]] * 3],
    ids=["fractions", "whole numbers", "extremes"],
)
def test_the_fast_and_the_cell_by_cell_read_give_the_same_arrays(rows):
    write_raw(BOOK, {"X": rows, "y": Y_GOOD})
    fast = workbook._fast_read(Path(BOOK), "X", "y", labels_required=True)
    assert fast[0] is not None and fast[1] is not None  # clean sheets: the fast way took them
    checked = workbook._checked_read(Path(BOOK), "X", "y", 10, labels_required=True)
    np.testing.assert_array_equal(fast[0], checked[0])
    assert fast[0].dtype == checked[0].dtype == np.float64
    assert fast[0].flags.c_contiguous
    np.testing.assert_array_equal(fast[1], checked[1])


def test_labels_that_need_the_cell_by_cell_read_leave_the_pixels_as_the_fast_read_gave_them(
    monkeypatch,
):
    write_raw(BOOK, {"X": X_GOOD, "y": [["label"], *Y_GOOD]})
    read_again = []
    monkeypatch.setattr(workbook, "_number_sheet", lambda *args: read_again.append(args))
    with pytest.raises(WorkbookError, match="sheet y, cell A1 holds text 'label'"):
        read_workbook(BOOK)
    assert read_again == []  # sheet X was not read a second time


def test_a_workbook_to_predict_on_without_labels_takes_the_fast_read(monkeypatch):
    write_raw(BOOK, {"X": X_GOOD})
    monkeypatch.setattr(workbook, "_checked_read", None)  # would fail if it were called
    X, y = workbook.read_for_prediction(BOOK)
    assert y is None and X.tolist() == X_GOOD


def test_read_workbook_returns_float_pixels_and_integer_labels_as_stored():
    write_raw(BOOK, {"X": X_GOOD, "y": Y_GOOD})
    X, y = read_workbook(BOOK)
    assert X.dtype == np.float64 and X.shape == (3, 3)
    assert y.dtype == np.int64 and y.shape == (3,)
    np.testing.assert_array_equal(X, X_GOOD)
    np.testing.assert_array_equal(y, [10, 1, 9])


def test_read_workbook_takes_other_sheet_names_and_class_counts():
    write_raw(BOOK, {"pixels": X_GOOD, "labels": [[3], [1], [2]]})
    X, y = read_workbook(BOOK, x_sheet="pixels", y_sheet="labels", n_classes=3)
    np.testing.assert_array_equal(X, X_GOOD)
    np.testing.assert_array_equal(y, [3, 1, 2])


def test_read_workbook_checks_labels_against_n_classes():
    write_raw(BOOK, {"X": X_GOOD, "y": [[3], [4], [2]]})
    with pytest.raises(WorkbookError) as caught:
        read_workbook(BOOK, n_classes=3)
    assert str(caught.value) == (
        "digits.xlsx: sheet y, cell A2 holds 4; labels must be whole numbers 1..3 "
        "(3 stands for class 0)"
    )


def test_read_workbook_lists_every_missing_sheet_name_it_was_given():
    write_raw(BOOK, {"X": X_GOOD, "y": Y_GOOD})
    with pytest.raises(WorkbookError) as caught:
        read_workbook(BOOK, x_sheet="pixels")
    assert str(caught.value) == (
        "digits.xlsx has no sheet 'pixels' (sheets found: 'X', 'y'); "
        "rename the sheet that holds the data to 'pixels'"
    )


@pytest.mark.parametrize(
    ("row", "col", "name"),
    [
        (0, 0, "A1"),
        (0, 25, "Z1"),
        (0, 26, "AA1"),
        (1, 51, "AZ2"),
        (16, 295, "KJ17"),
        (0, 701, "ZZ1"),
        (0, 702, "AAA1"),
        (1_048_575, 16_383, "XFD1048576"),
    ],
)
def test_cell_name_is_the_excel_a1_name_of_a_0_based_cell(row, col, name):
    assert cell_name(row, col) == name


def test_write_then_read_gives_back_x_and_y_exactly():
    rng = np.random.default_rng(0)
    X = np.round(rng.random((40, 7)), 4)
    X[0] = [0.0, 1.0, -2.5, 1e300, 1e-300, 123456.789, 1 / 3]
    y = rng.integers(1, 11, size=40)
    write_workbook(BOOK, X, y)
    X_read, y_read = read_workbook(BOOK)
    np.testing.assert_array_equal(X_read, X)
    np.testing.assert_array_equal(y_read, y)


def test_write_workbook_keeps_16_significant_digits_as_excel_does():
    write_workbook(BOOK, [[0.1 + 0.2], [0.0]], [1, 2])
    X, _ = read_workbook(BOOK)
    assert X[0, 0] == 0.3


def test_write_workbook_stores_labels_as_integers_and_no_header():
    write_workbook(BOOK, X_GOOD, [10, 1, 9], x_sheet="pixels", y_sheet="labels")
    with zipfile.ZipFile(BOOK) as archive:
        labels_xml = archive.read("xl/worksheets/sheet2.xml").decode()
        workbook_xml = archive.read("xl/workbook.xml").decode()
    assert '<c r="A1"><v>10</v></c>' in labels_xml
    assert '<sheet name="pixels"' in workbook_xml and '<sheet name="labels"' in workbook_xml


def test_write_workbook_is_byte_identical_every_time(tmp_path):
    write_workbook("first.xlsx", X_GOOD, [10, 1, 9])
    write_workbook("second.xlsx", X_GOOD, [10, 1, 9])
    assert (tmp_path / "first.xlsx").read_bytes() == (tmp_path / "second.xlsx").read_bytes()
    with zipfile.ZipFile("first.xlsx") as archive:
        assert "<dcterms:created" in (core := archive.read("docProps/core.xml").decode())
        assert "2000-01-01T00:00:00Z" in core


def test_write_workbook_leaves_only_the_workbook_and_creates_its_folder(tmp_path):
    write_workbook("data/digits.xlsx", X_GOOD, [10, 1, 9])
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["digits.xlsx"]


def test_write_workbook_that_fails_midway_keeps_the_old_file_and_no_temp_file(
    tmp_path, monkeypatch
):
    write_workbook(BOOK, X_GOOD, [10, 1, 9])
    before = (tmp_path / BOOK).read_bytes()

    def disk_full(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(xlsxwriter.worksheet.Worksheet, "write_number", disk_full)  # y's cells
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    with pytest.raises(OSError, match="No space left on device"):
        write_workbook(BOOK, [[0.0]] * 3, [1, 2, 3])
    assert (tmp_path / BOOK).read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [BOOK, "scratch"]
    assert list(scratch.iterdir()) == []


@pytest.mark.parametrize(
    ("X", "y", "message"),
    [
        ([1.0, 2.0], [1, 2], "X must be 2-D and y 1-D of the same length, got (2,) and (2,)"),
        ([[1.0], [2.0]], [1], "X must be 2-D and y 1-D of the same length, got (2, 1) and (1,)"),
        ([[1.0], [math.nan]], [1, 2], "X must hold finite numbers only, got NaN or infinity"),
        ([[1.0], [2.0]], [1.0, 2.0], "y must hold integer labels, got float64"),
    ],
)
def test_write_workbook_refuses_arrays_that_are_not_a_dataset(X, y, message):
    with pytest.raises(ValueError) as caught:
        write_workbook(BOOK, X, y)
    assert str(caught.value) == message


def test_read_workbook_refuses_a_file_over_max_file_mb():
    write_raw(BOOK, {"X": X_GOOD, "y": Y_GOOD})  # 5.3 KB
    with pytest.raises(WorkbookError) as caught:
        read_workbook(BOOK, max_file_mb=0.004)
    assert str(caught.value) == (
        "digits.xlsx is 5.3 KB, over the limit of 4.1 KB (data.max_file_mb); "
        "raise the limit if the workbook is genuine"
    )


def test_read_workbook_refuses_a_workbook_unpacking_over_max_unpacked_mb():
    write_raw(BOOK, {"X": X_GOOD, "y": Y_GOOD})  # 13.3 KB unpacked
    with pytest.raises(WorkbookError) as caught:
        read_workbook(BOOK, max_unpacked_mb=0.01)
    assert str(caught.value) == (
        "digits.xlsx: the workbook would unpack to 13.3 KB, over the limit of 10.2 KB "
        "(data.max_unpacked_mb); refusing it as a possible zip bomb "
        "(raise the limit if the workbook is genuine)"
    )


def test_read_workbook_takes_the_member_count_from_a_zip64_end_record(tmp_path, monkeypatch):
    """Writers that always use ZIP64 put 0xFFFF in the classic end record's counts, which taken
    as they stand would be over MAX_MEMBERS."""
    write_good(BOOK)
    monkeypatch.setattr(zipfile, "ZIP_FILECOUNT_LIMIT", 1)  # makes zipfile add ZIP64 records
    edit_part(BOOK, "xl/workbook.xml", lambda xml: xml)
    data = bytearray((tmp_path / BOOK).read_bytes())
    assert b"PK\x06\x06" in data
    struct.pack_into("<HHI", data, data.rfind(b"PK\x05\x06") + 8, 0xFFFF, 0xFFFF, 0xFFFFFFFF)
    (tmp_path / BOOK).write_bytes(data)
    X, y = read_workbook(BOOK)
    np.testing.assert_array_equal(y, [10, 1, 9])
