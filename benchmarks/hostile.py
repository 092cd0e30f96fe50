"""Time and peak memory of ingest refusing a zip bomb and an XML bomb, against the issue's bars.

    .venv/bin/python benchmarks/hostile.py               the two bombs through the real ingest
    .venv/bin/python benchmarks/hostile.py --unguarded   also calamine alone on the zip bomb,
                                                         what the guard saves

The bombs are built here with zipfile: a workbook of about 3 MB whose sheet unpacks to 3 GB, and
a billion-laughs DTD in a sheet (tests/test_hostile_workbooks.py builds its own). Each runs in a
fresh process whose own peak resident set size comes from wait4.
"""

import os
import re
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

from digitnet.workbook import write_workbook

BAR_PEAK_MB = 500  # the whole ingest process
BAR_SECONDS = 5  # "refused within seconds"; Python and Hydra take about 1 s to start
BOOK = "data/digits.xlsx"
SHEET = "xl/worksheets/sheet1.xml"
MB = 1 << 20
# Billion laughs: lol9 stands for 10^9 "lol"s, 3 GB of text if a parser expanded it.
LAUGHS = "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
DTD = f'?>\n<!DOCTYPE r [<!ENTITY lol0 "lol">{LAUGHS}]>\n'.encode()


def small_workbook(path):
    """Ten 4 x 4 digits written to `path`; returns its parts, {name: bytes}."""
    write_workbook(path, np.eye(10, 16), np.arange(1, 11))
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def make_zip_bomb(path):
    """The small workbook with 3 GB of spaces inside sheet X's <sheetData>: valid XML."""
    parts = small_workbook(path)
    head, tail = parts.pop(SHEET).split(b"<sheetData>")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
        with archive.open(SHEET, "w", force_zip64=True) as sheet:
            sheet.write(head + b"<sheetData>")
            for _ in range(3 * 1024):
                sheet.write(b" " * MB)
            sheet.write(tail)


def make_xml_bomb(path):
    """The small workbook with the laughs declared in sheet X and used in its first cell."""
    parts = small_workbook(path)
    parts[SHEET] = re.sub(rb"<v>[^<]*</v>", b"<v>&lol9;</v>", parts[SHEET].replace(b"?>\n", DTD, 1))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)


def measured(args, cwd):
    """(exit status, seconds, peak MB) of a command, its own peak from wait4 (RUSAGE_CHILDREN
    would give the largest of all children so far)."""
    started = time.perf_counter()
    child = subprocess.Popen(args, cwd=cwd)
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    return child.returncode, time.perf_counter() - started, usage.ru_maxrss / 1024


def calamine_alone(workbook):
    """python-calamine reading every sheet of `workbook`, unchecked."""
    code = (
        "import sys; from python_calamine import CalamineWorkbook;"
        "book = CalamineWorkbook.from_path(sys.argv[1]);"
        "[book.get_sheet_by_name(name).to_python() for name in book.sheet_names]"
    )
    return measured([sys.executable, "-c", code, str(workbook)], workbook.parent)


def report(name, seconds, peak_mb):
    print(
        f"{name:<42} {seconds:5.2f} s (bar {BAR_SECONDS} s)   "
        f"peak RSS {peak_mb:6.1f} MB (bar {BAR_PEAK_MB} MB: {peak_mb / BAR_PEAK_MB:.2f} of it)"
    )


def main(argv=None):
    unguarded = "--unguarded" in (sys.argv[1:] if argv is None else argv)
    ingest = [sys.executable, "-m", "digitnet.stages.ingest", f"data.workbook={BOOK}"]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "data").mkdir()
        for name, make in (("zip bomb (3 MB -> 3 GB)", make_zip_bomb), ("XML bomb", make_xml_bomb)):
            make(work / BOOK)
            status, seconds, peak_mb = measured([*ingest, "paths.ingested=ingested.npz"], work)
            assert status == 2, f"ingest exited {status} on the {name}"
            report(f"ingest refusing the {name}", seconds, peak_mb)
        if unguarded:
            make_zip_bomb(work / BOOK)
            report("calamine alone on the zip bomb", *calamine_alone(work / BOOK)[1:])


if __name__ == "__main__":
    main()
