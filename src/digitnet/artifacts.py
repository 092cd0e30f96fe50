"""Files written whole or not at all, and read back without pickle.

Every writer goes to a temporary file beside the target and renames it into place, so an
interrupted stage never leaves a half-written output for the next stage or for DVC to cache.
"""

import hashlib
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path):
    """Yield a temporary path beside `path`; move it onto `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's 0600 would make outputs private
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save_npz(path, **arrays):
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)


def load_npz(path):
    """All arrays of an .npz file as a dict; object arrays (pickles) are refused."""
    with np.load(path, allow_pickle=False) as data:
        return {name: data[name] for name in data.files}


def save_json(path, obj):
    write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def load_json(path):
    return json.loads(Path(path).read_text())


def write_text(path, text):
    with atomic_path(path) as tmp:
        tmp.write_text(text)


@contextmanager
def atomic_dir(path, keep_existing=False):
    """Yield a fresh temporary directory beside `path`; it replaces `path` only on success.

    With keep_existing, a `path` that exists by then stays and the new directory is dropped:
    for outputs named by their content, where the first one written is as good as any.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        if keep_existing:
            try:
                os.rename(tmp, path)  # refused onto a directory that another process filled
            except OSError:
                if not path.is_dir():
                    raise
        elif path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
            os.replace(path, old / path.name)
            os.replace(tmp, path)
            shutil.rmtree(old)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def file_md5(path):
    """Hex MD5 of a file's bytes, the same digest DVC records for it."""
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_costs(path, costs):
    """cost.csv: a header, then `epoch,cost` per epoch (1-based), costs at full precision."""
    rows = "".join(f"{epoch},{float(cost)!r}\n" for epoch, cost in enumerate(costs, start=1))
    write_text(path, "epoch,cost\n" + rows)


def read_costs(path):
    """The costs of a cost.csv, shape (epochs,)."""
    return np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)[:, 1]
