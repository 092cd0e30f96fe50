"""The processed arrays: a stratified, seeded split of raw pixels, one-hot targets, and the
scaler fitted on the training rows only."""

import numpy as np
import pytest

from digitnet import ingestion, splits
from digitnet.artifacts import load_json, load_npz
from digitnet.cli import load_config
from digitnet.errors import DigitnetError
from digitnet.workbook import write_workbook


@pytest.fixture
def ingested(tmp_path, tiny_workbook):
    """The tiny digits (8 per class) ingested into in.npz."""
    ingestion.ingest(workbook=tiny_workbook, out=tmp_path / "in.npz")
    return tmp_path / "in.npz"


def split(ingested, out, scaling="none", seed=0):
    """Split `ingested` into `out`, a quarter each for validation and test."""
    return splits.make_splits(
        ingested=ingested,
        out=out,
        n_classes=10,
        val_fraction=0.25,
        test_fraction=0.25,
        scaling=scaling,
        seed=seed,
    )


def test_every_split_takes_its_share_of_every_class_with_one_hot_targets(ingested, tmp_path):
    split(ingested, tmp_path / "p")
    for name, per_class in [("train", 4), ("val", 2), ("test", 2)]:
        part = load_npz(tmp_path / "p" / f"{name}.npz")
        assert np.bincount(part["classes"], minlength=10).tolist() == [per_class] * 10, name
        assert part["Y"].shape == (10 * per_class, 10)
        assert np.array_equal(part["Y"], np.eye(10)[part["classes"]]), name
    assert load_json(tmp_path / "p/meta.json")["sizes"] == {"train": 40, "val": 20, "test": 20}


def test_the_splits_keep_raw_pixels_and_the_scaler_is_fitted_on_the_training_rows(
    ingested, tmp_path
):
    split(ingested, tmp_path / "p", scaling="standard")
    raw = {tuple(row) for row in load_npz(ingested)["X"]}
    parts = {name: load_npz(tmp_path / "p" / f"{name}.npz")["X"] for name in splits.SPLITS}
    assert all({tuple(row) for row in X} <= raw for X in parts.values())
    scaler = load_npz(tmp_path / "p/scaler.npz")
    scaled = (parts["train"] - scaler["shift"]) / scaler["scale"]
    assert scaled.mean(axis=0) == pytest.approx(np.zeros(16), abs=1e-12)
    assert scaled.std(axis=0) == pytest.approx(np.ones(16))
    # fitted on all 80 rows instead, the training rows' mean would not be 0
    assert load_npz(ingested)["X"].mean(axis=0) != pytest.approx(scaler["shift"], abs=1e-6)


def test_label_10_becomes_class_0_and_every_example_lands_in_one_split(ingested, tmp_path):
    split(ingested, tmp_path / "p")
    labels = load_npz(ingested)["y"]
    parts = [load_npz(tmp_path / f"p/{s}.npz")["classes"] for s in splits.SPLITS]
    assert sorted(np.concatenate(parts).tolist()) == sorted(np.where(labels == 10, 0, labels))


def test_the_split_is_fixed_by_the_seed(ingested, tmp_path):
    first = split(ingested, tmp_path / "a", seed=0)
    again = split(ingested, tmp_path / "b", seed=0)
    other = split(ingested, tmp_path / "c", seed=1)
    assert all(np.array_equal(x, y) for x, y in zip(first, again, strict=True))
    assert not np.array_equal(first[2], other[2])


def test_meta_json_records_the_settings_the_split_depends_on(workspace):
    config = load_config(["experiment=tiny", "seed=3", "data.scaling=minmax"])
    ingestion.from_config(config)
    splits.from_config(config)
    meta = load_json(workspace / config.paths.processed / "meta.json")
    settings = {
        "n_classes": 10,
        "val_fraction": 0.25,
        "test_fraction": 0.25,
        "scaling": "minmax",
        "seed": 3,
    }
    assert splits.split_settings(config) == settings
    assert {key: meta[key] for key in settings} == settings


def test_a_split_left_empty_is_refused_and_nothing_is_written(tmp_path):
    write_workbook(tmp_path / "two.xlsx", np.eye(2), np.array([1, 2]))
    ingestion.ingest(workbook=tmp_path / "two.xlsx", out=tmp_path / "in.npz", n_classes=2)
    with pytest.raises(DigitnetError) as raised:
        splits.make_splits(
            ingested=tmp_path / "in.npz",
            out=tmp_path / "p",
            n_classes=2,
            val_fraction=0.1,
            test_fraction=0.2,
            scaling="none",
            seed=0,
        )
    assert str(raised.value) == (
        f"{tmp_path / 'in.npz'}: 2 examples are too few for val_fraction=0.1 and "
        "test_fraction=0.2: the test split is empty"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.npz", "two.xlsx"]
