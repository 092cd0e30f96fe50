"""Outputs written whole or not at all, read back without pickle."""

import os

import numpy as np
import pytest

from digitnet import artifacts


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


def test_load_npz_refuses_an_object_array(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, obj=np.array([{"a": 1}], dtype=object))  # pickled inside the .npz
    with pytest.raises(ValueError) as raised:
        artifacts.load_npz(path)
    assert str(raised.value) == "Object arrays cannot be loaded when allow_pickle=False"


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
