"""Shared fixtures: tiny real workbooks and a copy of this project's settings."""

import shutil

import pytest

from digitnet.workbook import write_workbook
from support import ROOT, tiny_digits


@pytest.fixture
def tiny_workbook(tmp_path):
    X, y = tiny_digits()
    path = tmp_path / "tiny.xlsx"
    write_workbook(path, X, y)
    return path


@pytest.fixture
def checkout(tmp_path, tiny_workbook):
    """A directory with this project's conf/ and the tiny workbook as data/digits.xlsx."""
    shutil.copytree(ROOT / "conf", tmp_path / "conf")
    (tmp_path / "data").mkdir()
    shutil.copy(tiny_workbook, tmp_path / "data/digits.xlsx")
    return tmp_path
