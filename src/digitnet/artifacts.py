"""Files written whole or not at all, and read back without pickle.

Every writer goes to a temporary file beside the target and renames it into place, so an
interrupted stage never leaves a half-written output for the next stage or for DVC to cache.
A command with several outputs writes them together (`atomic_paths`): all of them, or none.
Files and folders get the permissions of the user's umask, as `open` and `mkdir` would give.
"""

import hashlib
import json
import os
import shutil
import tempfile
import time
import zipfile
from contextlib import ExitStack, contextmanager
from pathlib import Path

import numpy as np

from digitnet.errors import ArrayFileError, MissingFileError, OutputError


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path):
    """Yield a temporary path beside `path`; move it onto `path` only if the block succeeds."""
    with atomic_paths([path]) as (tmp,):
        yield tmp


@contextmanager
def atomic_paths(paths):
    """Yield temporary paths beside `paths`; move them all into place only if the block succeeds.

    Every temporary file is made before the block runs, so a place that cannot be written is
    an `OutputError` before anything is; a rename that fails puts back what the earlier ones
    replaced.
    """
    paths = [Path(path) for path in paths]
    with ExitStack() as cleanup:
        temporaries = [cleanup.enter_context(_temporary_file(path)) for path in paths]
        yield temporaries
        _replace_all(temporaries, paths)


@contextmanager
def _temporary_file(path):
    """A new empty file beside `path`, with the umask's permissions; removed unless moved."""
    if path.is_dir():
        raise OutputError(path, "it is a directory")
    tmp = Path(_made(path, lambda: _mkstemp(path)))
    try:
        yield tmp
    finally:
        tmp.unlink(missing_ok=True)


def _mkstemp(path):
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's 0600 would make outputs private
    return tmp


def _made(path, make):
    """make() after creating the parents of `path`; a place that cannot hold it, one line."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return make()
    except OSError as exc:
        in_the_way = [parent for parent in path.parents if parent.exists() and not parent.is_dir()]
        if in_the_way:
            raise OutputError(path, f"{in_the_way[0]} is a file, not a directory") from None
        raise OutputError(path, exc.strerror.lower()) from None


def _replace_all(temporaries, paths):
    """Rename each temporary onto its path; if one fails, undo the renames done so far.

    Each rename replaces its file in one step, so a reader finds the old file or the new one,
    never none; the old one is kept under a second name (a hard link) until all are done.
    """
    done = []  # (path, a link to the file it replaced, or None)
    for tmp, path in zip(temporaries, paths, strict=True):
        try:
            kept = _keep_old(path)
            done.append((path, kept))
            os.replace(tmp, path)
        except OSError as exc:
            _put_back(done)
            raise OutputError(path, exc.strerror.lower()) from None
    for _, kept in done:
        if kept:
            os.unlink(kept)


def _keep_old(path):
    """A second name for the file at `path`, beside it, to put back; None if there is none."""
    if not path.is_file():
        return None
    kept = path.with_name(f".{path.name}.{os.getpid()}.{time.monotonic_ns()}.old")
    try:
        os.link(path, kept)
    except OSError:  # a file system without hard links
        shutil.copy2(path, kept)
    return kept


def _put_back(done):
    """Undo renames: each path gets back the file it replaced, or goes if there was none."""
    for path, kept in reversed(done):
        if kept:
            os.replace(kept, path)
        elif path.is_file():
            path.unlink()


def save_npz(path, **arrays):
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)


def load_npz(path):
    """All arrays of an .npz file as a dict; object arrays (pickles) are refused.

    A damaged file, and an array asked for that the file lacks, are an `ArrayFileError`
    naming the file: NumPy's own message would advise unpickling bytes that are no pickle.
    """
    try:  # the file opened here: np.load leaves it open when the archive is damaged
        with open(path, "rb") as f, np.load(f, allow_pickle=False) as data:
            return Arrays(path, {name: data[name] for name in data.files})
    except (ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise ArrayFileError(path, _damage(exc)) from None
    except FileNotFoundError:
        raise MissingFileError(path) from None


def _damage(exc):
    """What is wrong with an .npz file, from the exception np.load raised on it."""
    if isinstance(exc, EOFError):
        return "it is empty"
    if isinstance(exc, zipfile.BadZipFile):
        return "it is truncated or is no .npz archive" if "zip" in str(exc) else str(exc)
    if str(exc).startswith("Object arrays"):
        return "it holds pickled objects, which digitnet never writes"
    if "pickle" in str(exc):  # NumPy's word for a file that is neither .npy nor .npz
        return "it is no .npz archive"
    return str(exc)


class Arrays(dict):
    """The arrays of one .npz file, by name; a missing one is an `ArrayFileError`."""

    def __init__(self, path, arrays):
        super().__init__(arrays)
        self.path = path

    def __missing__(self, name):
        raise ArrayFileError(self.path, f"it holds no array {name!r}")


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
    tmp = Path(_made(path, lambda: _mkdtemp(path)))
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


def _mkdtemp(path):
    tmp = tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp's 0700 would make the folder private
    return tmp


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
