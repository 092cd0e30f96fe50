"""Outputs written whole or not at all, read back without pickle."""

import os

import numpy as np
import pytest

from digitnet import artifacts


def test_npz_round_trip_creates_parent_directories(tmp_path):
    path = tmp_path / "a" / "b" / "x.npz"
    artifacts.save_npz(path, X=np.arange(6.0).reshape(2, 3), name=np.array("digits"))
    loaded = artifacts.load_npz(path)
    assert loaded["X"].tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
    assert str(loaded["name"]) == "digits"


def test_load_npz_refuses_pickled_objects(tmp_path):
    np.savez(tmp_path / "evil.npz", obj=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="allow_pickle=False"):
        artifacts.load_npz(tmp_path / "evil.npz")


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError), artifacts.atomic_path(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_a_failed_directory_write_leaves_the_old_directory(tmp_path):
    target = tmp_path / "dir"
    target.mkdir()
    (target / "kept").write_text("old")
    with pytest.raises(RuntimeError), artifacts.atomic_dir(target) as tmp:
        (tmp / "new").write_text("new")
        raise RuntimeError("interrupted")
    assert [p.name for p in target.iterdir()] == ["kept"]
    assert [p.name for p in tmp_path.iterdir()] == ["dir"]


def test_a_directory_write_replaces_the_old_one_whole(tmp_path):
    target = tmp_path / "dir"
    target.mkdir()
    (target / "stale").write_text("old")
    with artifacts.atomic_dir(target) as tmp:
        (tmp / "new").write_text("new")
    assert [p.name for p in target.iterdir()] == ["new"]
    assert [p.name for p in tmp_path.iterdir()] == ["dir"]


def test_written_files_get_ordinary_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        artifacts.write_text(tmp_path / "f.txt", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "f.txt").stat().st_mode & 0o777 == 0o644


def test_json_round_trip_and_file_md5(tmp_path):
    artifacts.save_json(tmp_path / "m.json", {"b": 1, "a": [0.5]})
    assert artifacts.load_json(tmp_path / "m.json") == {"a": [0.5], "b": 1}
    (tmp_path / "bytes").write_bytes(b"abc")
    assert artifacts.file_md5(tmp_path / "bytes") == "900150983cd24fb0d6963f7d28e17f72"
