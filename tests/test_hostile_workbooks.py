"""Specification of ingest against bad and hostile workbooks, through the real command line.

Every bad workbook, from a header row to a zip bomb, ends the same way: one line
`error: ...` on stderr, exit status 2, and no output file, new or half-written, left behind.
The bombs are refused from the zip's directory and the first bytes of each XML member, before
calamine parses anything, so they cost seconds and megabytes, not minutes and gigabytes.
"""

import math
import os
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
from dataclasses import dataclass

import pytest

from digitnet.workbook import write_workbook
from support import tiny_digits, tool_env
from test_workbook import X_GOOD, Y_GOOD, with_cell, write_raw

pytestmark = pytest.mark.slow

BOOK = "data/digits.xlsx"
OUT = "ingested.npz"
MB = 1 << 20
GUARD_SECONDS = 30  # generous: a refusal takes about as long as Python takes to start
GUARD_PEAK_MB = 500  # the bar for the whole ingest process


@dataclass
class Outcome:
    status: int
    stderr: str
    seconds: float
    peak_mb: float  # the child's own peak resident set size


def run_ingest(cwd, workbook=BOOK, out=OUT):
    """`python -m digitnet.stages.ingest` in `cwd`, waited for with wait4 so that its own
    peak memory is known (RUSAGE_CHILDREN would give the largest of all children so far)."""
    args = [sys.executable, "-m", "digitnet.stages.ingest"]
    args += [f"data.workbook={workbook}", f"paths.ingested={out}"]
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        started = time.perf_counter()
        child = subprocess.Popen(args, cwd=cwd, env=tool_env(), stdout=stdout, stderr=stderr)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        stderr.seek(0)
        return Outcome(child.returncode, stderr.read().decode(), seconds, usage.ru_maxrss / 1024)


def write_zip(path, members):
    """A zip of deflated members {name: (packed pieces, crc32, unpacked size)}, written by
    hand so that a bomb's packed bytes can be one block repeated, not 3 GB compressed."""
    with open(path, "wb") as f:
        directory = b""
        for name, (pieces, crc, size) in members.items():
            offset = f.tell()
            packed = sum(len(piece) for piece in pieces)
            # version 2.0, no flags, deflate, 1980-01-01 00:00, crc, sizes, name length
            fields = (20, 0, 8, 0, 0x21, crc, packed, size, len(name))
            f.write(struct.pack("<4s5H3I2H", b"PK\x03\x04", *fields, 0) + name.encode())
            for piece in pieces:
                f.write(piece)
            central = struct.pack("<4s6H3I5H2I", b"PK\x01\x02", 20, *fields, 0, 0, 0, 0, 0, offset)
            directory += central + name.encode()
        start = f.tell()
        f.write(directory)
        n = len(members)
        f.write(struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, n, n, len(directory), start, 0))


def make_zip_bomb(path, gigabytes=3):
    """A real workbook whose sheet X carries `gigabytes` GB of spaces inside <sheetData>, valid
    XML that takes calamine 1 GB of memory per GB, in a file of about 1 MB per GB.

    After a full flush deflate starts afresh, so every 1 MB of spaces packs to the same block."""
    X, y = tiny_digits(n_per_class=1)
    write_workbook(path, X, y)
    with zipfile.ZipFile(path) as source:
        texts = {name: source.read(name) for name in source.namelist()}
    members = {}
    for name, text in texts.items():
        packer = zlib.compressobj(9, zlib.DEFLATED, -15)
        members[name] = ([packer.compress(text) + packer.flush()], zlib.crc32(text), len(text))
    head, tail = texts["xl/worksheets/sheet1.xml"].split(b"<sheetData>")
    head += b"<sheetData>"
    spaces = b" " * MB
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    pieces = [packer.compress(head) + packer.flush(zlib.Z_FULL_FLUSH)]
    block = packer.compress(spaces) + packer.flush(zlib.Z_FULL_FLUSH)
    assert packer.compress(spaces) + packer.flush(zlib.Z_FULL_FLUSH) == block
    n_blocks = gigabytes * 1024
    pieces += [block] * n_blocks + [packer.compress(tail) + packer.flush()]
    crc = zlib.crc32(head)
    for _ in range(n_blocks):
        crc = zlib.crc32(spaces, crc)
    crc = zlib.crc32(tail, crc)
    size = len(head) + n_blocks * MB + len(tail)
    members["xl/worksheets/sheet1.xml"] = (pieces, crc, size)
    write_zip(path, members)


def cells(**changes):
    """A builder of the good 3 x 3 workbook with some sheets replaced, however wrong."""
    return lambda path: write_raw(path, {"X": X_GOOD, "y": Y_GOOD} | changes)


def edited(member, edit):
    """A builder of the good workbook, cell A1 of X the shared string "lol", with the XML of
    `member` passed through `edit`."""

    def make(path):
        write_raw(path, {"X": with_cell(X_GOOD, 0, 0, "lol"), "y": Y_GOOD})
        with zipfile.ZipFile(path) as source:
            texts = {name: source.read(name) for name in source.namelist()}
        texts[member] = edit(texts[member].decode()).encode()
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
            for name, text in texts.items():
                target.writestr(name, text)

    return make


# Billion laughs: lol9 stands for 10^9 "lol"s, 3 GB of text if a parser expanded it.
LAUGHS = "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
DTD = f'?>\n<!DOCTYPE r [<!ENTITY lol0 "lol">{LAUGHS}]>\n'


def laughs_in_a_number(xml):
    """calamine leaves the DTD unread and the cell silently blank."""
    return xml.replace("?>\n", DTD, 1).replace("<v>0.5</v>", "<v>&lol9;</v>")


def laughs_in_a_string(xml):
    """calamine stops with `unrecognized entity`, as a damaged file."""
    return xml.replace("?>\n", DTD, 1).replace(">lol<", ">&lol9;<")


def make_xml_bomb(path):
    edited("xl/worksheets/sheet1.xml", laughs_in_a_number)(path)


def make_oversized(path):
    """201 MB of nothing, sparse, so it takes no disk."""
    with open(path, "wb") as f:
        f.truncate(201 * MB)


def make_encrypted(path):
    """The signature of an OLE2 compound file, as Excel's password-protected .xlsx starts."""
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504))


def make_csv(path):
    path.write_text("0,0.5,1\n0.25,0,0.75\n")


NOT_NUMBERS = "every cell of X must be a number, with no header row"
LABELS_1_10 = "labels must be whole numbers 1..10 (10 stands for class 0)"
ZIP_BOMB = "refusing it as a possible zip bomb"
XML_BOMB = "which workbooks never need; refusing it as a possible XML bomb"

BAD_WORKBOOKS = [
    (
        "zip bomb, 3 MB unpacking to 3 GB",
        make_zip_bomb,
        f"{BOOK}: the workbook would unpack to 3.0 GB, over the limit of 1.0 GB "
        f"(data.max_unpacked_mb); {ZIP_BOMB} (raise the limit if the workbook is genuine)",
    ),
    (
        "XML bomb in a sheet",
        make_xml_bomb,
        f"{BOOK}: xl/worksheets/sheet1.xml declares XML entities (<!ENTITY ...>), {XML_BOMB}",
    ),
    (
        "XML bomb in the shared strings",
        edited("xl/sharedStrings.xml", laughs_in_a_string),
        f"{BOOK}: xl/sharedStrings.xml declares XML entities (<!ENTITY ...>), {XML_BOMB}",
    ),
    (
        "file over max_file_mb",
        make_oversized,
        f"{BOOK} is 201.0 MB, over the limit of 200.0 MB (data.max_file_mb); "
        "raise the limit if the workbook is genuine",
    ),
    (
        "encrypted workbook",
        make_encrypted,
        f"{BOOK} is encrypted or an old .xls file (an OLE2 container, not an .xlsx zip); "
        "save it unencrypted as .xlsx",
    ),
    ("csv renamed", make_csv, f"{BOOK} is not an Excel .xlsx workbook (not a zip archive)"),
    ("missing workbook", None, f"workbook not found: {BOOK}"),
    (
        "no sheet y",
        lambda path: write_raw(path, {"X": X_GOOD}),
        f"{BOOK} has no sheet 'y' (sheets found: 'X'); rename the sheet that holds the data to 'y'",
    ),
    ("empty sheet", cells(X=[]), f"{BOOK}: sheet X is empty"),
    (
        "header row",
        cells(X=[["pixel1", "pixel2", "pixel3"], *X_GOOD]),
        f"{BOOK}: sheet X, cell A1 holds text 'pixel1'; {NOT_NUMBERS}",
    ),
    (
        "text in a number cell",
        cells(X=with_cell(X_GOOD, 1, 2, "0,75")),
        f"{BOOK}: sheet X, cell C2 holds text '0,75'; {NOT_NUMBERS}",
    ),
    (
        "blank cell inside the data",
        cells(X=with_cell(X_GOOD, 1, 1, None)),
        f"{BOOK}: sheet X, cell B2 is empty; {NOT_NUMBERS}",
    ),
    (
        "NaN",
        cells(X=with_cell(X_GOOD, 2, 0, math.nan)),
        f"{BOOK}: sheet X, cell A3 holds nan; every cell of X must be a finite number",
    ),
    (
        "infinity",
        cells(X=with_cell(X_GOOD, 0, 1, math.inf)),
        f"{BOOK}: sheet X, cell B1 holds inf; every cell of X must be a finite number",
    ),
    (
        "more examples than labels",
        cells(y=Y_GOOD[:2]),
        f"{BOOK}: sheet X has 3 rows but sheet y has 2; "
        "every example in X needs exactly one label in y",
    ),
    (
        "labels in two columns",
        cells(y=with_cell(Y_GOOD, 0, 1, 5)),
        f"{BOOK}: sheet y, cell B1 holds 5; sheet y must hold the labels in column A only",
    ),
    (
        "label 11",
        cells(y=with_cell(Y_GOOD, 2, 0, 11)),
        f"{BOOK}: sheet y, cell A3 holds 11; {LABELS_1_10}",
    ),
    (
        "label 0",
        cells(y=with_cell(Y_GOOD, 0, 0, 0)),
        f"{BOOK}: sheet y, cell A1 holds 0; {LABELS_1_10}",
    ),
    (
        "label 2.5",
        cells(y=with_cell(Y_GOOD, 1, 0, 2.5)),
        f"{BOOK}: sheet y, cell A2 holds 2.5; {LABELS_1_10}",
    ),
    (
        "a single class",
        cells(y=[[3], [3], [3]]),
        f"{BOOK}: sheet y holds only label 3; at least two classes are needed to learn",
    ),
]


@pytest.mark.parametrize(
    ("make", "message"),
    [case[1:] for case in BAD_WORKBOOKS],
    ids=[case[0] for case in BAD_WORKBOOKS],
)
def test_ingest_refuses_a_bad_workbook_in_one_line_and_writes_nothing(tmp_path, make, message):
    (tmp_path / "data").mkdir()
    if make is not None:
        make(tmp_path / BOOK)
    outcome = run_ingest(tmp_path)
    assert outcome.stderr == f"error: {message}\n"
    assert outcome.status == 2
    assert not (tmp_path / OUT).exists()
    assert list(tmp_path.rglob(".*.tmp")) == []
    assert outcome.seconds < GUARD_SECONDS
    assert outcome.peak_mb < GUARD_PEAK_MB


def test_a_failed_ingest_leaves_the_earlier_output_byte_for_byte(tmp_path):
    (tmp_path / "data").mkdir()
    write_workbook(tmp_path / BOOK, *tiny_digits())
    assert run_ingest(tmp_path).status == 0
    before = (tmp_path / OUT).read_bytes()
    make_xml_bomb(tmp_path / BOOK)
    outcome = run_ingest(tmp_path)
    assert outcome.status == 2 and outcome.stderr.startswith(f"error: {BOOK}: ")
    assert (tmp_path / OUT).read_bytes() == before
    assert list(tmp_path.rglob(".*.tmp")) == []
