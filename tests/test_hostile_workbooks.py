"""Specification of ingest against bombs, through the real command line and in a real process.

A bomb ends as any bad workbook does: one line `error: ...` on stderr, exit status 2, and no
output file, new or half-written, left behind. It is refused from the zip's directory and the
first bytes of each XML member, before calamine parses anything, so it costs seconds and
megabytes, not minutes and gigabytes; what a process spends is the point of these tests.
The messages of every other bad workbook are specified in process, in test_workbook.py.
"""

import struct
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import pytest

from digitnet.workbook import write_workbook
from support import tiny_digits, tool_env, write_entity_bomb

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


# Runs a command and writes its exit status and peak resident set size (KiB) to argv[1]. A child
# forked straight from the test process would start with that process's resident set, which Linux
# counts in the child's peak: this small, fresh interpreter is the parent instead.
MEASURED = """
import os, subprocess, sys
child = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(child.pid, 0)
open(sys.argv[1], "w").write(f"{os.waitstatus_to_exitcode(status)} {usage.ru_maxrss}")
"""


def run_ingest(cwd, workbook=BOOK, out=OUT):
    """`digitnet stage ingest` in `cwd`, with its exit status, stderr, time and its
    own peak memory."""
    args = [sys.executable, "-m", "digitnet.stages.ingest"]
    args += [f"data.workbook={workbook}", f"paths.ingested={out}"]
    with tempfile.TemporaryDirectory() as scratch:
        result, stderr = Path(scratch) / "result", Path(scratch) / "stderr"
        started = time.perf_counter()
        with open(stderr, "w") as err:
            subprocess.run(
                [sys.executable, "-c", MEASURED, str(result), *args],
                cwd=cwd,
                env=tool_env(),
                stdout=subprocess.DEVNULL,
                stderr=err,
                check=True,
            )
        seconds = time.perf_counter() - started
        status, peak_kib = map(int, result.read_text().split())
        return Outcome(status, stderr.read_text(), seconds, peak_kib / 1024)


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


def make_xml_bomb(path):
    write_entity_bomb(path, "xl/worksheets/sheet1.xml")


def make_oversized(path):
    """201 MB of nothing, sparse, so it takes no disk."""
    with open(path, "wb") as f:
        f.truncate(201 * MB)


XML_BOMB = (
    f"{BOOK}: xl/worksheets/sheet1.xml declares XML entities (<!ENTITY ...>), which "
    "workbooks never need; refusing it as a possible XML bomb"
)

# The limits in these messages are conf/'s defaults, which only the real command reads.
BOMBS = [
    (
        "zip bomb, 3 MB unpacking to 3 GB",
        make_zip_bomb,
        f"{BOOK}: the workbook would unpack to 3.0 GB, over the limit of 1.0 GB "
        "(data.max_unpacked_mb); refusing it as a possible zip bomb "
        "(raise the limit if the workbook is genuine)",
    ),
    ("XML bomb in a sheet", make_xml_bomb, XML_BOMB),
    (
        "file over max_file_mb",
        make_oversized,
        f"{BOOK} is 201.0 MB, over the limit of 200.0 MB (data.max_file_mb); "
        "raise the limit if the workbook is genuine",
    ),
]


@pytest.mark.parametrize(
    ("make", "message"),
    [case[1:] for case in BOMBS],
    ids=[case[0] for case in BOMBS],
)
def test_ingest_refuses_a_bomb_in_one_line_within_seconds_and_megabytes_writing_nothing(
    tmp_path, make, message
):
    (tmp_path / "data").mkdir()
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
    assert outcome.status == 2 and outcome.stderr == f"error: {XML_BOMB}\n"
    assert (tmp_path / OUT).read_bytes() == before
    assert list(tmp_path.rglob(".*.tmp")) == []
