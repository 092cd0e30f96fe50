"""Time and peak memory of ingest refusing a zip bomb and an XML bomb, against the issue's bars.

    .venv/bin/python benchmarks/hostile.py               the two bombs through the real ingest
    .venv/bin/python benchmarks/hostile.py --unguarded   also calamine alone on the zip bomb,
                                                         what the guard saves (about 3 GB, 20 s)

The bombs are the ones tests/test_hostile_workbooks.py builds: a 3 MB workbook whose sheet
unpacks to 3 GB, and a billion-laughs DTD in a sheet. Each runs in a fresh process whose own
peak resident set size comes from wait4.
"""

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from test_hostile_workbooks import BOOK, make_xml_bomb, make_zip_bomb, run_ingest  # noqa: E402

BAR_PEAK_MB = 500  # the whole ingest process
BAR_SECONDS = 5  # "refused within seconds"; Python and Hydra take about 1 s to start


def calamine_alone(workbook):
    """Seconds and peak MB of python-calamine reading every sheet of `workbook`, unchecked."""
    code = (
        "import sys; from python_calamine import CalamineWorkbook;"
        "book = CalamineWorkbook.from_path(sys.argv[1]);"
        "[book.get_sheet_by_name(name).to_python() for name in book.sheet_names]"
    )
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-c", code, str(workbook)])
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - started, usage.ru_maxrss / 1024


def report(name, seconds, peak_mb):
    print(
        f"{name:<42} {seconds:5.2f} s (bar {BAR_SECONDS} s)   "
        f"peak RSS {peak_mb:6.1f} MB (bar {BAR_PEAK_MB} MB: {peak_mb / BAR_PEAK_MB:.2f} of it)"
    )


def main(argv=None):
    unguarded = "--unguarded" in (sys.argv[1:] if argv is None else argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "data").mkdir()
        for name, make in (("zip bomb (3 MB -> 3 GB)", make_zip_bomb), ("XML bomb", make_xml_bomb)):
            make(work / BOOK)
            outcome = run_ingest(work)
            assert outcome.status == 2, outcome.stderr
            report(f"ingest refusing the {name}", outcome.seconds, outcome.peak_mb)
        if unguarded:
            make_zip_bomb(work / BOOK)
            report("calamine alone on the zip bomb", *calamine_alone(work / BOOK))


if __name__ == "__main__":
    main()
