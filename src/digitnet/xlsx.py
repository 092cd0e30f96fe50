"""A copy of an .xlsx workbook with one sheet more, made by editing its zip parts.

openpyxl loads and saves every cell, about 20 s each way for 5000 x 400. Here the original's
parts are copied byte for byte, still compressed, and only the new sheet is written. Three small
parts, which list the sheets, gain one entry each: the workbook part (the sheet's name), its
relationships (where the sheet's part is) and [Content_Types].xml (what that part holds).

An .xlsx is a zip. Each part is a local header and its compressed bytes, and a central directory
at the end lists every part with the offset of its local header; so a part is copied as the
bytes from its offset to the next part's, and its directory record with the new offset.
"""

import html
import re
import struct
import zlib
from pathlib import Path

from digitnet.artifacts import atomic_path
from digitnet.errors import WorkbookError
from digitnet.workbook import cell_name

END_RECORD = struct.Struct("<4s4H2LH")  # signature, disks, entries, directory size and offset
DIRECTORY_RECORD = struct.Struct("<4s6H3L5H2L")  # ..., name/extra/comment lengths, ..., offset
LOCAL_HEADER = struct.Struct("<4s5H3L2H")
ZIP64_MARK = 0xFFFFFFFF
DOS_DATE = (2000 - 1980) << 9 | 1 << 5 | 1  # 2000-01-01 00:00, so a copy is reproducible

MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
RELATIONSHIPS_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
SHEET_RELATIONSHIP = f"{RELATIONSHIPS_NS}/worksheet"
DOCUMENT_RELATIONSHIP = f"{RELATIONSHIPS_NS}/officeDocument"
SHEET_CONTENT = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"


def add_sheet(source, target, name, columns):
    """Write to `target` a copy of the workbook `source` with a last sheet `name`.

    `columns` maps each header to its values, numbers already written as text (`7`, `0.25`),
    one per row. The sheet is named `name`, or `name 2`, ...
    if the workbook already has a sheet of that name. Returns the name used. `target` appears
    only when complete.
    """
    source = Path(source)
    data = source.read_bytes()
    parts = _parts(source, data)
    texts = {part: _text(data, parts[part]) for part in ("[Content_Types].xml", "_rels/.rels")}
    book = _document_part(texts["_rels/.rels"])
    folder, file_name = book.rsplit("/", 1) if "/" in book else ("", book)
    book_rels = f"{folder}/_rels/{file_name}.rels".lstrip("/")
    for part in (book, book_rels):
        if part not in parts:
            raise WorkbookError(f"{source} is not an Excel .xlsx workbook (it has no {part})")
        texts[part] = _text(data, parts[part])

    number = next(k for k in range(1, len(parts) + 2) if _in(folder, k) not in parts)
    sheet_part = _in(folder, number)
    relationship = _free_id(texts[book_rels])
    name = _free_name(texts[book], name)
    entry = _sheet_entry(source, texts[book], name, relationship)
    texts[book] = _insert_before_end(texts[book], "sheets", entry)
    texts[book_rels] = _insert_before_end(
        texts[book_rels],
        "Relationships",
        f'<Relationship Id="{relationship}" Type="{SHEET_RELATIONSHIP}" '
        f'Target="worksheets/sheet{number}.xml"/>',
    )
    texts["[Content_Types].xml"] = _insert_before_end(
        texts["[Content_Types].xml"],
        "Types",
        f'<Override PartName="/{sheet_part}" ContentType="{SHEET_CONTENT}"/>',
    )
    changed = {
        part: texts[part].encode("utf-8") for part in ("[Content_Types].xml", book, book_rels)
    }
    changed[sheet_part] = sheet_xml(columns)
    with atomic_path(target) as tmp:
        _write(tmp, data, parts, changed)
    return name


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


def _parts(path, data):
    """{part name: (directory record, local offset, end of its local bytes)} from the zip's
    central directory."""
    at = data.rfind(b"PK\x05\x06", max(0, len(data) - (1 << 16) - END_RECORD.size))
    if at < 0:
        raise WorkbookError(f"{path} is not an Excel .xlsx workbook (not a zip archive)")
    *_, directory_size, directory_offset, _ = END_RECORD.unpack_from(data, at)
    if ZIP64_MARK in (directory_size, directory_offset):
        raise WorkbookError(f"{path} is a ZIP64 archive, which this copy does not handle")
    records, position = [], directory_offset
    while position < directory_offset + directory_size:
        fields = DIRECTORY_RECORD.unpack_from(data, position)
        name_length, extra_length, comment_length, offset = *fields[10:13], fields[-1]
        start = position + DIRECTORY_RECORD.size
        size = DIRECTORY_RECORD.size + name_length + extra_length + comment_length
        name = data[start : start + name_length]
        if offset == ZIP64_MARK:
            raise WorkbookError(f"{path} is a ZIP64 archive, which this copy does not handle")
        records.append((name.decode("utf-8"), data[position : position + size], offset))
        position += size
    ends = sorted({offset for *_, offset in records} | {directory_offset})
    return {
        name: (record, offset, ends[ends.index(offset) + 1]) for name, record, offset in records
    }


def _text(data, part):
    """The uncompressed text of a (small) part: one of the sheet lists, never a sheet."""
    record, offset, _ = part
    fields = DIRECTORY_RECORD.unpack_from(record)
    method, compressed_size = fields[4], fields[8]
    name_length, extra_length = LOCAL_HEADER.unpack_from(data, offset)[-2:]
    start = offset + LOCAL_HEADER.size + name_length + extra_length
    raw = data[start : start + compressed_size]
    if method not in (0, 8):  # stored or deflated: what every spreadsheet program writes
        raise WorkbookError(f"a part of the workbook is packed by zip method {method}")
    return (zlib.decompress(raw, -15) if method == 8 else raw).decode("utf-8")


def _write(path, data, parts, changed):
    """The new zip, parts in their order: unchanged ones copied as they are, changed ones
    deflated, and new ones deflated at the end."""
    directory = []
    with open(path, "wb") as out:
        for name, (record, offset, end) in parts.items():
            if name in changed:
                directory.append(_deflated(out, name, changed[name]))
            else:
                directory.append(record[:42] + struct.pack("<L", out.tell()) + record[46:])
                out.write(data[offset:end])
        for name in changed.keys() - parts.keys():
            directory.append(_deflated(out, name, changed[name]))
        start = out.tell()
        out.write(b"".join(directory))
        out.write(
            END_RECORD.pack(
                b"PK\x05\x06", 0, 0, len(directory), len(directory), out.tell() - start, start, 0
            )
        )


def _deflated(out, name, content):
    """Write one part, deflated, at the current position; return its directory record."""
    packer = zlib.compressobj(6, zlib.DEFLATED, -15)
    packed = packer.compress(content) + packer.flush()
    encoded, crc, offset = name.encode("utf-8"), zlib.crc32(content), out.tell()
    sizes = (crc, len(packed), len(content), len(encoded), 0)
    out.write(LOCAL_HEADER.pack(b"PK\x03\x04", 20, 0, 8, 0, DOS_DATE, *sizes) + encoded + packed)
    record = DIRECTORY_RECORD.pack(
        b"PK\x01\x02", 20, 20, 0, 8, 0, DOS_DATE, *sizes, 0, 0, 0, 0, offset
    )
    return record + encoded


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
