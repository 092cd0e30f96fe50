"""Ingestion: the workbook read once, every cell checked, its arrays and MD5 kept as .npz."""

import numpy as np
import pytest

from digitnet import ingestion
from digitnet.artifacts import file_md5, load_npz
from digitnet.cli import load_config
from digitnet.errors import WorkbookError


def test_ingest_keeps_the_arrays_the_labels_as_written_and_the_workbooks_md5(
    tmp_path, tiny_workbook
):
    X, y = ingestion.ingest(workbook=tiny_workbook, out=tmp_path / "in.npz")
    saved = load_npz(tmp_path / "in.npz")
    assert np.array_equal(saved["X"], X) and np.array_equal(saved["y"], y)
    assert saved["X"].shape == (80, 16)
    assert sorted(set(saved["y"].tolist())) == list(range(1, 11))  # 10 stays 10 here
    assert str(saved["source_md5"]) == file_md5(tiny_workbook)


def test_ingest_says_what_it_read_in_one_line(tmp_path, tiny_workbook, capsys):
    ingestion.ingest(workbook=tiny_workbook, out=tmp_path / "in.npz")
    line = capsys.readouterr().out
    assert line.startswith(
        f"ingest: {tiny_workbook} → {tmp_path / 'in.npz'}: 80 examples × 16 features, "
        "labels 1..10 ("
    )
    assert line.endswith(" s)\n") and line.count("\n") == 1


def test_ingest_of_a_big_workbook_says_first_what_it_reads(
    tmp_path, tiny_workbook, capsys, monkeypatch
):
    monkeypatch.setattr(ingestion, "ANNOUNCE_MB", 0)  # the tiny workbook counts as big
    ingestion.ingest(workbook=tiny_workbook, out=tmp_path / "in.npz")
    first, second = capsys.readouterr().out.splitlines()
    size = tiny_workbook.stat().st_size / 2**20
    assert first == f"ingest: reading {tiny_workbook} ({size:.0f} MB), every cell checked ..."
    assert second.startswith(f"ingest: {tiny_workbook} → ")


def test_a_file_that_is_no_workbook_is_refused_and_nothing_is_written(tmp_path):
    bad = tmp_path / "bad.xlsx"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(WorkbookError) as raised:
        ingestion.ingest(workbook=bad, out=tmp_path / "in.npz")
    assert str(raised.value) == f"{bad} is not an Excel .xlsx workbook (not a zip archive)"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.xlsx"]


def test_from_config_takes_the_workbook_destination_and_size_limits_from_the_settings(
    workspace,
):
    workbook = workspace / "data/digits.xlsx"
    config = load_config(["data.max_file_mb=0.001", "paths.ingested=elsewhere.npz"])
    with pytest.raises(WorkbookError) as raised:
        ingestion.from_config(config)
    size = f"{workbook.stat().st_size / 1024:.1f} KB"
    assert str(raised.value) == (
        f"data/digits.xlsx is {size}, over the limit of 1.0 KB (data.max_file_mb); "
        "raise the limit if the workbook is genuine"
    )
    ingestion.from_config(load_config(["paths.ingested=elsewhere.npz"]))
    assert load_npz(workspace / "elsewhere.npz")["X"].shape == (80, 16)
    assert not (workspace / "artifacts").exists()
