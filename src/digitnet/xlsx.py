"""A copy of an .xlsx workbook with one sheet more, made by editing its zip parts.

openpyxl would load and save every cell of a large sheet. Here the original's parts are copied
still packed (`zipparts.copy`), and only the new sheet is written. Three small
parts, which list the sheets, gain one entry each: the workbook part (the sheet's name), its
relationships (where the sheet's part is) and [Content_Types].xml (what that part holds).
"""

import html
import itertools
import re
from pathlib import Path

from digitnet import zipparts
from digitnet.artifacts import atomic_path
from digitnet.errors import WorkbookError
from digitnet.workbook import cell_name

CONTENT_TYPES = "[Content_Types].xml"
MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
RELATIONSHIPS_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
SHEET_RELATIONSHIP = f"{RELATIONSHIPS_NS}/worksheet"
DOCUMENT_RELATIONSHIP = f"{RELATIONSHIPS_NS}/officeDocument"
SHEET_CONTENT = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"


def add_sheet(source, target, name, columns):
    """Write to `target` a copy of the workbook `source` with a last sheet `name`.

    `columns` maps each header to its values, numbers already written as text (`7`, `0.25`),
    one per row. The sheet is named `name`, or `name 2`, ... if the workbook already has a
    sheet of that name. Returns the name used. `target` appears only when complete.
    """
    source = Path(source)
    with zipparts.opened(source) as archive:
        book = _document_part(_read(archive, source, "_rels/.rels"))
        folder, _, file_name = book.rpartition("/")
        book_rels = f"{folder}/_rels/{file_name}.rels".lstrip("/")
        lists = {part: _read(archive, source, part) for part in (CONTENT_TYPES, book, book_rels)}
        names = set(archive.namelist())
        number = next(k for k in itertools.count(1) if _in(folder, k) not in names)
        name = _free_name(lists[book], name)
        changed = _listing(source, lists, book, book_rels, name, number)
        changed[_in(folder, number)] = sheet_xml(columns)
        with atomic_path(target) as tmp:
            zipparts.copy(archive, tmp, changed)
    return name


def _listing(path, lists, book, book_rels, name, number):
    """The three parts that list the sheets, {part: bytes}, each with sheet `number` added."""
    relationship = _free_id(lists[book_rels])
    entry = _sheet_entry(path, lists[book], name, relationship)
    target = f"worksheets/sheet{number}.xml"
    folder = book.rpartition("/")[0]
    added = {
        book: ("sheets", entry),
        book_rels: (
            "Relationships",
            f'<Relationship Id="{relationship}" Type="{SHEET_RELATIONSHIP}" Target="{target}"/>',
        ),
        CONTENT_TYPES: (
            "Types",
            f'<Override PartName="/{_in(folder, number)}" ContentType="{SHEET_CONTENT}"/>',
        ),
    }
    return {part: _insert_before_end(lists[part], *added[part]).encode("utf-8") for part in added}


def _read(archive, path, part):
    """The text of one of the small parts that list the sheets."""
    if part not in archive.namelist():
        raise WorkbookError(f"{path} is not an Excel .xlsx workbook (it has no {part})")
    return archive.read(part).decode("utf-8")


def _in(folder, number):
    """The name of the part of sheet `number`, beside the workbook part in `folder`."""
    return f"{folder}/worksheets/sheet{number}.xml".lstrip("/")


def sheet_xml(columns):
    """A worksheet part: the headers in row 1 (inline strings), then the numbers, one per cell."""
    headers = list(columns)
    letters = [cell_name(0, col)[:-1] for col in range(len(headers))]
    head = "".join(
        f'<c r="{letter}1" t="inlineStr"><is><t>{html.escape(header)}</t></is></c>'
        for letter, header in zip(letters, headers, strict=True)
    )
    as_text = list(columns.values())
    rows = [f'<row r="1">{head}</row>']
    for i, row in enumerate(zip(*as_text, strict=True), start=2):
        cells = "".join(
            f'<c r="{letter}{i}"><v>{v}</v></c>' for letter, v in zip(letters, row, strict=True)
        )
        rows.append(f'<row r="{i}">{cells}</row>')
    last = f"{letters[-1]}{len(rows)}"
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<worksheet xmlns="{MAIN_NS}"><dimension ref="A1:{last}"/><sheetData>'
        + "".join(rows)
        + "</sheetData></worksheet>"
    ).encode("utf-8")


def _document_part(package_rels):
    """The workbook part's name, as the package's relationships give it (xl/workbook.xml)."""
    for relationship in re.findall(r"<(?:\w+:)?Relationship\b[^>]*>", package_rels):
        if f'Type="{DOCUMENT_RELATIONSHIP}"' in relationship:
            return re.search(r'Target="([^"]*)"', relationship).group(1).lstrip("/")
    return "xl/workbook.xml"


def _free_id(rels):
    ids = set(re.findall(r'\bId="([^"]*)"', rels))
    return next(f"rId{k}" for k in range(len(ids) + 1, 2 * len(ids) + 2) if f"rId{k}" not in ids)


def _free_name(book, wanted):
    """`wanted`, or `wanted 2`, ...: Excel compares sheet names ignoring case."""
    taken = {
        html.unescape(name).casefold()
        for name in re.findall(r'<(?:\w+:)?sheet\b[^>]*\bname="([^"]*)"', book)
    }
    candidates = [wanted] + [f"{wanted} {k}" for k in range(2, len(taken) + 2)]
    return next(name for name in candidates if name.casefold() not in taken)


def _sheet_entry(path, book, name, relationship):
    """<sheet name=... sheetId=... r:id=.../> in the prefixes the workbook part already uses."""
    sheets = re.search(r"<(\w+:)?sheets\b", book)
    if sheets is None:
        raise WorkbookError(
            f"{path} is not an Excel .xlsx workbook (its workbook part has no sheets)"
        )
    prefix = sheets.group(1) or ""
    bound = re.search(rf'xmlns:(\w+)="{re.escape(RELATIONSHIPS_NS)}"', book)
    ids = [int(k) for k in re.findall(r'\bsheetId="(\d+)"', book)]
    declare = "" if bound else f' xmlns:r="{RELATIONSHIPS_NS}"'
    r = bound.group(1) if bound else "r"
    return (
        f'<{prefix}sheet{declare} name="{html.escape(name)}" sheetId="{max(ids, default=0) + 1}" '
        f'{r}:id="{relationship}"/>'
    )


def _insert_before_end(xml, element, entry):
    """`xml` with `entry` placed just before the closing tag of `element`."""
    closing = list(re.finditer(rf"</(\w+:)?{element}>", xml))
    if not closing:
        raise WorkbookError(f"the workbook's parts have no <{element}> list to add a sheet to")
    at = closing[-1].start()
    return xml[:at] + entry + xml[at:]
