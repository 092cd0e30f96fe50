"""Read the workbook once, validate every cell, and keep its arrays as .npz for the rest."""

import os
import time
import zipfile

import numpy as np

from digitnet.artifacts import file_md5, save_npz
from digitnet.errors import WorkbookError
from digitnet.workbook import read_workbook

# A workbook larger than this (MB) gets a line before it is read: 50,000 rows (71 MB) take
# several seconds, and a user should see that the stage is at work, and on what.
ANNOUNCE_MB = 20


def ingest(
    *,
    workbook,
    out,
    x_sheet="X",
    y_sheet="y",
    n_classes=10,
    max_file_mb=200.0,
    max_unpacked_mb=1024.0,
):
    """Write X, y (labels as in the file) and the workbook's MD5 to `out` as .npz."""
    started = time.perf_counter()
    size_mb = os.path.getsize(workbook) / 2**20 if os.path.isfile(workbook) else 0
    if size_mb > ANNOUNCE_MB:
        print(f"ingest: reading {workbook} ({size_mb:.0f} MB), every cell checked ...", flush=True)
    X, y = read_workbook(
        workbook,
        x_sheet=x_sheet,
        y_sheet=y_sheet,
        n_classes=n_classes,
        max_file_mb=max_file_mb,
        max_unpacked_mb=max_unpacked_mb,
    )
    made_from = identity(workbook, x_sheet=x_sheet, y_sheet=y_sheet, n_classes=n_classes)
    save_npz(out, X=X, y=y, **{key: np.array(value) for key, value in made_from.items()})
    print(
        f"ingest: {workbook} → {out}: {X.shape[0]} examples × {X.shape[1]} features, "
        f"labels {y.min()}..{y.max()} ({time.perf_counter() - started:.1f} s)"
    )
    return X, y


def identity(workbook, *, x_sheet, y_sheet, n_classes):
    """What ingested arrays are made from: the workbook's bytes (MD5) and the settings that read
    it. Stored in the .npz and carried into the processed arrays' meta.json, so that whoever
    finds arrays can tell whether they are the ones it asks for."""
    if not os.path.isfile(workbook):
        raise WorkbookError(f"workbook not found: {workbook}")
    return {
        "source_md5": file_md5(workbook),
        "x_sheet": x_sheet,
        "y_sheet": y_sheet,
        "n_classes": n_classes,
    }


def made_from(path):
    """The identity recorded in an ingested .npz (see `identity`: every array beside X and y,
    read without X and y); {} for a file that cannot be read, which is then simply not the
    arrays anyone asks for."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key].item() for key in data.files if key not in ("X", "y")}
    except (OSError, ValueError, zipfile.BadZipFile):
        return {}


def from_config(config, out=None):
    """`ingest` with the workbook that `config` names, into `out` (default: paths.ingested)."""
    return ingest(
        workbook=config.data.workbook,
        out=out or config.paths.ingested,
        x_sheet=config.data.x_sheet,
        y_sheet=config.data.y_sheet,
        n_classes=config.data.n_classes,
        max_file_mb=config.data.max_file_mb,
        max_unpacked_mb=config.data.max_unpacked_mb,
    )
