"""Time reading the 5000 x 400 sample workbook: digitnet's ingest against the libraries a user
would otherwise pick, side by side in one run.

    make bench          (or: .venv/bin/python benchmarks/ingest.py)

pandas + openpyxl takes about 20 s, so it runs once; the others run in turns, ROUNDS times, and
each gets its median. "python-calamine directly" is the least a reader can do: open the file,
take both sheets' rows and make float64 arrays of them, with no checks. digitnet's ingest stage
adds every cell check, the .npz and the file's MD5. Needs the `bench` extra (pandas).
"""

import contextlib
import io
import tempfile
from pathlib import Path

import numpy as np
from _bench import bar, figure, interleaved, sample_workbook

ROUNDS = 5
ANCHORS = {  # seconds, measured on this kind of machine
    "openpyxl": 21.6,
    "pandas calamine": 1.8,
    "calamine": 1.3,
    "npz": 0.012,
}


def calamine_directly(path):
    from python_calamine import CalamineWorkbook

    book = CalamineWorkbook.from_path(path)
    X = np.array(book.get_sheet_by_name("X").to_python(), dtype=np.float64)
    y = np.array(book.get_sheet_by_name("y").to_python(), dtype=np.float64)[:, 0]
    return X, y


def pandas_read(path, engine):
    import pandas as pd

    sheets = pd.read_excel(path, sheet_name=["X", "y"], header=None, engine=engine)
    return sheets["X"].to_numpy(np.float64), sheets["y"].to_numpy(np.float64)[:, 0]


def quietly(function, **kwargs):
    """`function(**kwargs)` without its report on stdout."""
    with contextlib.redirect_stdout(io.StringIO()):
        return function(**kwargs)


def main():
    from digitnet.ingestion import ingest
    from digitnet.workbook import read_workbook

    path = sample_workbook()
    with tempfile.TemporaryDirectory() as tmp:
        npz = Path(tmp) / "ingested.npz"
        t = interleaved(
            {
                "calamine": lambda: calamine_directly(path),
                "read_workbook": lambda: read_workbook(path),
                "ingest": lambda: quietly(ingest, workbook=path, out=npz),
                "pandas calamine": lambda: pandas_read(path, "calamine"),
                "npz": lambda: np.load(npz)["X"],
            },
            ROUNDS,
        )
        t |= interleaved({"openpyxl": lambda: pandas_read(path, "openpyxl")}, 1)
    print(f"Reading the {path.name} sample (5000 x 400 + labels), median of {ROUNDS} rounds:")
    figure("pandas.read_excel, openpyxl (one round)", t["openpyxl"], ANCHORS["openpyxl"])
    figure('pandas.read_excel, engine="calamine"', t["pandas calamine"], ANCHORS["pandas calamine"])
    figure("python-calamine directly, to float64 arrays", t["calamine"], ANCHORS["calamine"])
    figure("digitnet read_workbook: every cell checked", t["read_workbook"])
    figure("digitnet ingest stage: checked, .npz written, MD5", t["ingest"])
    figure("loading the same arrays from the .npz", t["npz"], ANCHORS["npz"])
    bar("ingest stage / python-calamine directly", t["ingest"] / t["calamine"], 1.2)
    bar("pandas + openpyxl / ingest stage", t["openpyxl"] / t["ingest"], 10, at_least=True)


if __name__ == "__main__":
    main()
