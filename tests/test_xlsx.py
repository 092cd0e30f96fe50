"""Specification of add_sheet: a copy of a workbook, from openpyxl or XlsxWriter, with one more
sheet, which openpyxl and calamine both read, and in which everything else stays as it was."""

import struct
import zipfile

import openpyxl
import pytest
import xlsxwriter
from openpyxl.workbook.defined_name import DefinedName
from python_calamine import CalamineWorkbook

from digitnet.errors import WorkbookError
from digitnet.xlsx import add_sheet
from support import X_GOOD, Y_GOOD, edit_part, write_raw

COLUMNS = {"row": ["1", "2", "3"], "digit": ["7", "0", "9"], "p<&>": ["0.25", "1", "1e-05"]}
NEW_ROWS = [["row", "digit", "p<&>"], [1, 7, 0.25], [2, 0, 1], [3, 9, 1e-05]]
NOTES = [["pixels of", "3 digits"], ["scanned", 2024]]


def by_openpyxl(path):
    """Sheets X, y and Notes, a workbook-wide name `pixels` and a name `total` on Notes."""
    book = openpyxl.Workbook()
    book.active.title = "X"
    for name, rows in (("X", X_GOOD), ("y", Y_GOOD), ("Notes", NOTES)):
        sheet = book[name] if name == "X" else book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    book.defined_names["pixels"] = DefinedName("pixels", attr_text="X!$A$1:$C$3")
    book["Notes"].defined_names["total"] = DefinedName("total", attr_text="Notes!$B$2")
    book.save(path)


def by_xlsxwriter(path):
    """The same workbook as `by_openpyxl` makes, as XlsxWriter writes it."""
    with xlsxwriter.Workbook(path) as book:
        for name, rows in (("X", X_GOOD), ("y", Y_GOOD), ("Notes", NOTES)):
            sheet = book.add_worksheet(name)
            for i, row in enumerate(rows):
                sheet.write_row(i, 0, row)
        book.define_name("pixels", "=X!$A$1:$C$3")
        book.define_name("Notes!total", "=Notes!$B$2")


def as_openpyxl_reads_it(path):
    """({sheet: rows}, {scope: {name: reference}}) as openpyxl reads the workbook."""
    book = openpyxl.load_workbook(path)
    sheets = {sheet.title: [list(row) for row in sheet.values] for sheet in book}
    names = {"workbook": {k: v.attr_text for k, v in book.defined_names.items()}}
    names |= {
        sheet.title: {k: v.attr_text for k, v in sheet.defined_names.items()} for sheet in book
    }
    return sheets, names


def as_calamine_reads_it(path):
    book = CalamineWorkbook.from_path(path)
    return {name: book.get_sheet_by_name(name).to_python() for name in book.sheet_names}


def write_all_zip64(path, monkeypatch):
    """X and y in a zip whose every part and end have ZIP64 records, as some writers make."""
    write_raw(path, {"X": X_GOOD, "y": Y_GOOD})
    with monkeypatch.context() as patch:
        patch.setattr(zipfile, "ZIP64_LIMIT", 0)  # every size and offset "needs" ZIP64
        edit_part(path, "xl/workbook.xml", lambda xml: xml)


@pytest.mark.parametrize("make", [by_openpyxl, by_xlsxwriter])
def test_add_sheet_appends_a_sheet_that_openpyxl_and_calamine_read(tmp_path, make):
    make(tmp_path / "book.xlsx")
    assert add_sheet(tmp_path / "book.xlsx", tmp_path / "copy.xlsx", "predictions", COLUMNS) == (
        "predictions"
    )
    sheets, _ = as_openpyxl_reads_it(tmp_path / "copy.xlsx")
    assert list(sheets) == ["X", "y", "Notes", "predictions"]
    assert sheets["predictions"] == NEW_ROWS
    calamine_sheets = as_calamine_reads_it(tmp_path / "copy.xlsx")
    assert list(calamine_sheets) == ["X", "y", "Notes", "predictions"]
    assert calamine_sheets["predictions"] == NEW_ROWS


@pytest.mark.parametrize("make", [by_openpyxl, by_xlsxwriter])
def test_add_sheet_keeps_the_original_sheets_and_defined_names(tmp_path, make):
    make(tmp_path / "book.xlsx")
    add_sheet(tmp_path / "book.xlsx", tmp_path / "copy.xlsx", "predictions", COLUMNS)
    sheets, names = as_openpyxl_reads_it(tmp_path / "copy.xlsx")
    original_sheets, original_names = as_openpyxl_reads_it(tmp_path / "book.xlsx")
    assert original_names["workbook"] == {"pixels": "X!$A$1:$C$3"}
    assert original_names["Notes"] == {"total": "Notes!$B$2"}
    assert names == original_names | {"predictions": {}}
    assert sheets == original_sheets | {"predictions": NEW_ROWS}
    calamine_sheets = as_calamine_reads_it(tmp_path / "copy.xlsx")
    assert calamine_sheets == as_calamine_reads_it(tmp_path / "book.xlsx") | {
        "predictions": NEW_ROWS
    }


def test_add_sheet_numbers_the_name_when_taken_ignoring_case(tmp_path):
    write_raw(tmp_path / "book.xlsx", {"X": X_GOOD, "Predictions": Y_GOOD, "predictions 2": []})
    name = add_sheet(tmp_path / "book.xlsx", tmp_path / "copy.xlsx", "predictions", COLUMNS)
    assert name == "predictions 3"
    assert list(as_calamine_reads_it(tmp_path / "copy.xlsx")) == [
        "X",
        "Predictions",
        "predictions 2",
        "predictions 3",
    ]


def test_add_sheet_escapes_a_sheet_name_that_is_not_plain_xml(tmp_path):
    write_raw(tmp_path / "book.xlsx", {"X": X_GOOD})
    add_sheet(tmp_path / "book.xlsx", tmp_path / "copy.xlsx", "<A & B>", COLUMNS)
    assert openpyxl.load_workbook(tmp_path / "copy.xlsx").sheetnames == ["X", "<A & B>"]


def test_add_sheet_copies_a_workbook_whose_records_are_all_zip64(tmp_path, monkeypatch):
    write_all_zip64(tmp_path / "book.xlsx", monkeypatch)
    assert b"PK\x06\x06" in (tmp_path / "book.xlsx").read_bytes()
    add_sheet(tmp_path / "book.xlsx", tmp_path / "copy.xlsx", "predictions", COLUMNS)
    assert as_calamine_reads_it(tmp_path / "copy.xlsx") == {
        "X": X_GOOD,
        "y": [[10.0], [1.0], [9.0]],
        "predictions": NEW_ROWS,
    }


def test_add_sheet_refuses_a_part_too_large_for_a_zip_without_zip64(tmp_path, monkeypatch):
    """A sheet whose ZIP64 record claims 5 GB unpacked, which the classic format cannot state."""
    book = tmp_path / "book.xlsx"
    write_all_zip64(book, monkeypatch)
    with zipfile.ZipFile(book) as archive:
        sheet = archive.getinfo("xl/worksheets/sheet1.xml")
    claim = sheet.extra[:4] + struct.pack("<Q", 5 << 30) + sheet.extra[12:]  # unpacked size first
    book.write_bytes(book.read_bytes().replace(sheet.extra, claim))
    with pytest.raises(WorkbookError) as caught:
        add_sheet(book, tmp_path / "copy.xlsx", "predictions", COLUMNS)
    assert str(caught.value) == (
        f"{book} is too large to copy: its parts need ZIP64, which this copy does not write"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["book.xlsx"]


def test_add_sheet_refuses_a_zip_without_the_workbook_relationships(tmp_path):
    book = tmp_path / "book.xlsx"
    write_raw(book, {"X": X_GOOD})
    with zipfile.ZipFile(book) as source:
        parts = {name: source.read(name) for name in source.namelist()}
    with zipfile.ZipFile(book, "w") as target:
        for name, data in parts.items():
            if name != "xl/_rels/workbook.xml.rels":
                target.writestr(name, data)
    with pytest.raises(WorkbookError) as caught:
        add_sheet(book, tmp_path / "copy.xlsx", "predictions", COLUMNS)
    assert str(caught.value) == (
        f"{book} is not an Excel .xlsx workbook (it has no xl/_rels/workbook.xml.rels)"
    )
    assert not (tmp_path / "copy.xlsx").exists()


def test_add_sheet_refuses_a_file_that_is_not_a_zip_and_writes_nothing(tmp_path):
    (tmp_path / "book.xlsx").write_text("row,digit\n1,7\n")
    with pytest.raises(WorkbookError) as caught:
        add_sheet(tmp_path / "book.xlsx", tmp_path / "copy.xlsx", "predictions", COLUMNS)
    assert str(caught.value) == (
        f"{tmp_path / 'book.xlsx'} is not an Excel .xlsx workbook (File is not a zip file)"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["book.xlsx"]
