"""Outputs written whole or not at all, read back without pickle."""

import os
import subprocess
import sys

import numpy as np
import pytest

from digitnet import artifacts
from digitnet.errors import ArrayFileError, MissingFileError, OutputError
from support import ROOT, make_checkout, sh


def test_npz_round_trip_keeps_names_values_and_dtypes(tmp_path):
    path = tmp_path / "arrays.npz"
    X = np.arange(6.0).reshape(2, 3)
    classes = np.array([3, 0], dtype=np.int64)
    artifacts.save_npz(path, X=X, classes=classes, name=np.array("digits"))
    loaded = artifacts.load_npz(path)
    assert sorted(loaded) == ["X", "classes", "name"]
    assert np.array_equal(loaded["X"], X) and loaded["X"].dtype == np.float64
    assert np.array_equal(loaded["classes"], classes) and loaded["classes"].dtype == np.int64
    assert str(loaded["name"]) == "digits"


def test_load_npz_returns_arrays_that_outlive_the_file(tmp_path):
    path = tmp_path / "arrays.npz"
    artifacts.save_npz(path, X=np.ones(3))
    loaded = artifacts.load_npz(path)
    path.unlink()
    assert loaded["X"].tolist() == [1.0, 1.0, 1.0]


def test_save_npz_creates_parent_directories(tmp_path):
    path = tmp_path / "a" / "b" / "x.npz"
    artifacts.save_npz(path, X=np.zeros(2))
    assert artifacts.load_npz(path)["X"].tolist() == [0.0, 0.0]


FIX = "rebuild it with `dvc repro`, or delete it and run the command again"


def test_load_npz_refuses_an_object_array(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, obj=np.array([{"a": 1}], dtype=object))  # pickled inside the .npz
    with pytest.raises(ArrayFileError) as raised:
        artifacts.load_npz(path)
    assert str(raised.value) == (
        f"{path} is damaged (it holds pickled objects, which digitnet never writes); {FIX}"
    )


def saved_bytes(tmp_path):
    """The bytes of a real .npz file that save_npz wrote."""
    artifacts.save_npz(tmp_path / "good.npz", X=np.arange(12.0).reshape(3, 4), y=np.arange(3))
    return (tmp_path / "good.npz").read_bytes()


@pytest.mark.parametrize(
    ("damage", "what"),
    [
        (lambda good: b"\x93not numpy at all" * 20, "it is no .npz archive"),
        (lambda good: b"", "it is empty"),
        (lambda good: good[: len(good) // 2], "it is truncated or is no .npz archive"),
        (lambda good: good[:100] + b"\0" * 40 + good[140:], "Bad CRC-32 for file 'X.npy'"),
    ],
    ids=["bytes", "empty", "truncated", "flipped-bytes"],
)
def test_a_damaged_npz_is_one_line_naming_the_file_and_the_fix(tmp_path, damage, what):
    path = tmp_path / "train.npz"
    path.write_bytes(damage(saved_bytes(tmp_path)))
    with pytest.raises(ArrayFileError) as raised:
        artifacts.load_npz(path)["X"]
    assert str(raised.value) == f"{path} is damaged ({what}); {FIX}"
    assert "allow_pickle" not in str(raised.value)


def test_an_array_the_file_lacks_is_named_with_the_file(tmp_path):
    path = tmp_path / "train.npz"
    artifacts.save_npz(path, X=np.zeros((2, 3)))
    arrays = artifacts.load_npz(path)
    assert arrays.get("Y") is None and "Y" not in arrays  # asking whether it is there is fine
    with pytest.raises(ArrayFileError) as raised:
        arrays["Y"]
    assert str(raised.value) == f"{path} is damaged (it holds no array 'Y'); {FIX}"


def test_atomic_path_moves_the_finished_file_into_place(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("old")
    with artifacts.atomic_path(path) as tmp:
        assert tmp.parent == tmp_path and tmp != path
        tmp.write_text("new")
        assert path.read_text() == "old"  # untouched until the block succeeds
    assert path.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_atomic_path_leaves_the_old_file_and_no_temporary_when_the_block_raises(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError, match="^interrupted$"), artifacts.atomic_path(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_atomic_path_leaves_no_file_when_the_block_raises_before_writing(tmp_path):
    path = tmp_path / "sub" / "out.txt"
    with pytest.raises(RuntimeError, match="^interrupted$"), artifacts.atomic_path(path):
        raise RuntimeError("interrupted")
    assert list((tmp_path / "sub").iterdir()) == []


def test_written_files_get_the_permissions_of_the_umask_not_0600(tmp_path):
    old = os.umask(0o022)
    try:
        artifacts.write_text(tmp_path / "f.txt", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "f.txt").stat().st_mode & 0o777 == 0o644


def test_atomic_paths_moves_every_file_into_place_together(tmp_path):
    first, second = tmp_path / "a.csv", tmp_path / "sub" / "b.xlsx"
    with artifacts.atomic_paths([first, second]) as (first_tmp, second_tmp):
        first_tmp.write_text("a")
        second_tmp.write_text("b")
        assert not first.exists() and not second.exists()
    assert (first.read_text(), second.read_text()) == ("a", "b")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.csv", "b.xlsx", "sub"]


def test_an_unwritable_second_output_is_found_before_the_first_is_written(tmp_path):
    (tmp_path / "predictions").write_text("a file where a folder belongs")
    first, second = tmp_path / "a.csv", tmp_path / "predictions" / "b.xlsx"
    entered = False
    with pytest.raises(OutputError) as raised, artifacts.atomic_paths([first, second]):
        entered = True
    assert str(raised.value) == (
        f"cannot write {second}: {tmp_path / 'predictions'} is a file, not a directory; "
        "nothing was written"
    )
    assert not entered
    assert sorted(p.name for p in tmp_path.iterdir()) == ["predictions"]


def test_an_output_that_is_a_directory_is_one_error(tmp_path):
    (tmp_path / "out.csv").mkdir()
    with pytest.raises(OutputError) as raised, artifacts.atomic_path(tmp_path / "out.csv"):
        pass
    assert str(raised.value) == (
        f"cannot write {tmp_path / 'out.csv'}: it is a directory; nothing was written"
    )


def test_a_rename_that_fails_puts_back_the_files_already_replaced(tmp_path):
    first, second = tmp_path / "a.csv", tmp_path / "b.xlsx"
    first.write_text("old a")
    with pytest.raises(OutputError) as raised:
        with artifacts.atomic_paths([first, second]) as (first_tmp, second_tmp):
            first_tmp.write_text("new a")
            second_tmp.write_text("new b")
            (second / "in the way").mkdir(parents=True)  # a directory takes b.xlsx's place
    assert str(raised.value).startswith(f"cannot write {second}: ")
    assert first.read_text() == "old a"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "b.xlsx"]
    assert second.is_dir()


UMASK_SCRIPT = """
import sys
from pathlib import Path
import numpy as np
from digitnet import artifacts
root = Path(sys.argv[1])
with artifacts.atomic_dir(root / "model") as tmp:
    artifacts.save_npz(tmp / "weights.npz", W=np.zeros(2))
with artifacts.atomic_dir(root / "model") as tmp:  # a second time replaces the first
    artifacts.write_text(tmp / "cost.csv", "epoch,cost\\n")
artifacts.save_json(root / "new" / "metrics.json", {})
"""


@pytest.mark.parametrize(
    ("umask", "folder", "file"), [(0o022, 0o755, 0o644), (0o077, 0o700, 0o600)]
)
def test_files_and_folders_follow_the_umask_of_the_process(tmp_path, umask, folder, file):
    subprocess.run(
        [sys.executable, "-c", UMASK_SCRIPT, str(tmp_path)], check=True, umask=umask, cwd=ROOT
    )
    modes = {
        p.relative_to(tmp_path).as_posix(): p.stat().st_mode & 0o777 for p in tmp_path.rglob("*")
    }
    assert modes == {
        "model": folder,
        "model/cost.csv": file,
        "new": folder,
        "new/metrics.json": file,
    }


@pytest.mark.slow
@pytest.mark.parametrize(
    ("umask", "folder", "file"), [(0o022, 0o755, 0o644), (0o077, 0o700, 0o600)]
)
def test_the_stages_folders_follow_the_umask(tmp_path, umask, folder, file):
    root = make_checkout(tmp_path)
    for stage in ("ingest", "preprocess"):
        subprocess.run(
            [sys.executable, "-m", "digitnet", "stage", stage],
            cwd=root,
            check=True,
            umask=umask,
            capture_output=True,
        )
    processed = root / "artifacts" / "processed"
    assert processed.stat().st_mode & 0o777 == folder
    assert {p.name: p.stat().st_mode & 0o777 for p in processed.iterdir()} == {
        name: file for name in ("meta.json", "scaler.npz", "test.npz", "train.npz", "val.npz")
    }


def test_json_round_trip_creates_parent_directories(tmp_path):
    path = tmp_path / "metrics" / "m.json"
    artifacts.save_json(path, {"b": 1, "a": [0.5, "x"], "c": {"d": None}})
    assert artifacts.load_json(path) == {"a": [0.5, "x"], "b": 1, "c": {"d": None}}


def test_json_is_written_indented_with_sorted_keys_and_a_final_newline(tmp_path):
    path = tmp_path / "m.json"
    artifacts.save_json(path, {"b": 1, "a": 2})
    assert path.read_text() == '{\n  "a": 2,\n  "b": 1\n}\n'


def test_an_unserialisable_json_write_leaves_the_old_file(tmp_path):
    path = tmp_path / "m.json"
    artifacts.save_json(path, {"a": 1})
    with pytest.raises(TypeError):
        artifacts.save_json(path, {"a": object()})
    assert artifacts.load_json(path) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


def test_atomic_dir_replaces_the_old_directory_whole(tmp_path):
    target = tmp_path / "dir"
    target.mkdir()
    (target / "stale").write_text("old")
    with artifacts.atomic_dir(target) as tmp:
        (tmp / "new").write_text("new")
    assert [p.name for p in target.iterdir()] == ["new"]
    assert [p.name for p in tmp_path.iterdir()] == ["dir"]


def test_atomic_dir_leaves_the_old_directory_when_the_block_raises(tmp_path):
    target = tmp_path / "dir"
    target.mkdir()
    (target / "kept").write_text("old")
    with pytest.raises(RuntimeError), artifacts.atomic_dir(target) as tmp:
        (tmp / "new").write_text("new")
        raise RuntimeError("interrupted")
    assert [p.name for p in target.iterdir()] == ["kept"]
    assert [p.name for p in tmp_path.iterdir()] == ["dir"]


def test_file_md5_is_the_md5_of_the_bytes(tmp_path):
    (tmp_path / "bytes").write_bytes(b"abc")
    # RFC 1321 test suite: MD5("abc")
    assert artifacts.file_md5(tmp_path / "bytes") == "900150983cd24fb0d6963f7d28e17f72"


@pytest.mark.slow
def test_digitnet_train_on_a_damaged_train_npz_is_one_line_naming_it(tmp_path):
    """The issue's case: processed/train.npz overwritten with bytes, then `digitnet train`."""
    root = make_checkout(tmp_path)
    for stage in ("ingest", "preprocess"):
        sh([sys.executable, "-m", "digitnet", "stage", stage], root)
    damaged = root / "artifacts" / "processed" / "train.npz"
    damaged.write_bytes(b"overwritten " * 100)
    # The default split, so that train reads the pipeline's arrays rather than splitting anew.
    result = sh(
        [sys.executable, "-m", "digitnet", "train", "train.epochs=2", "tracking.enabled=false"],
        root,
        check=False,
    )
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        f"error: artifacts/processed/train.npz is damaged (it is no .npz archive); {FIX}\n"
    )
    assert damaged.read_bytes() == b"overwritten " * 100


def test_a_missing_array_file_is_one_line_that_says_dvc_repro_builds_it(tmp_path):
    with pytest.raises(MissingFileError) as missing:
        artifacts.load_npz(tmp_path / "ingested.npz")
    assert str(missing.value) == (
        f"{tmp_path / 'ingested.npz'} not found; `dvc repro` builds it (the pipeline, in order)"
    )
