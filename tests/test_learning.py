"""Learning on the real sample digits: the presets reach their bars, the tutorial's settings don't.

The sample's arrays come straight from `sample_arrays()` (no Excel round trip), then go through
the pipeline's own preprocess and train stage functions, with tracking off.
"""

import numpy as np
import pytest

from digitnet.artifacts import load_npz, save_npz
from digitnet.cli import load_config
from digitnet.sample import sample_arrays
from digitnet.splits import make_splits
from digitnet.training import train_model

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ingested(tmp_path_factory):
    X, labels = sample_arrays()
    path = tmp_path_factory.mktemp("sample") / "ingested.npz"
    save_npz(path, X=X, y=labels, source_md5=np.array("sample"))
    return path


def train_and_score(ingested, tmp_path, overrides=()):
    """(test accuracy, train History costs, Trained) for the pipeline's config with `overrides`."""
    config = load_config([*overrides, "tracking.enabled=false"])
    processed = tmp_path / "processed"
    make_splits(
        ingested=ingested,
        out=processed,
        n_classes=config.data.n_classes,
        val_fraction=config.data.val_fraction,
        test_fraction=config.data.test_fraction,
        scaling=config.data.scaling,
        seed=config.seed,
    )
    trained = train_model(config=config, processed=processed, model_dir=tmp_path / "model")
    test = load_npz(processed / "test.npz")
    predicted = trained.network.predict(test["X"])  # raw pixels: the network scales them
    return float(np.mean(predicted == test["classes"])), trained.costs


def test_default_settings_reach_90_percent_test_accuracy(ingested, tmp_path):
    accuracy, costs = train_and_score(ingested, tmp_path)
    assert accuracy >= 0.90
    assert costs[-1] < costs[0] / 5


def test_default_cost_decreases_over_training(ingested, tmp_path):
    _, costs = train_and_score(ingested, tmp_path, ["train.epochs=20"])
    assert np.all(np.diff(costs) < 0)


def test_tutorial_settings_stay_near_chance(ingested, tmp_path):
    accuracy, costs = train_and_score(ingested, tmp_path, ["experiment=tutorial"])
    assert accuracy < 0.3
    assert costs[-1] < costs[0]  # it does descend, just far too slowly


def test_the_best_preset_reaches_95_percent_test_accuracy(ingested, tmp_path):
    accuracy, costs = train_and_score(ingested, tmp_path, ["experiment=best"])
    assert accuracy >= 0.95
    assert len(costs) == load_config(["experiment=best"]).train.epochs


def test_shifted_copies_are_what_lift_the_best_preset(ingested, tmp_path):
    with_shifts, _ = train_and_score(ingested, tmp_path / "a", ["experiment=best"])
    without, _ = train_and_score(
        ingested, tmp_path / "b", ["experiment=best", "train.augment=none"]
    )
    assert with_shifts > without + 0.01


def test_the_ng_ex4_preset_fits_like_the_exercise(ingested, tmp_path):
    accuracy, costs = train_and_score(ingested, tmp_path, ["experiment=ng_ex4"])
    assert accuracy >= 0.88
    assert np.all(np.diff(costs) < 0)  # full-batch descent at this rate never goes uphill


def test_the_cnn_preset_reaches_975_percent_test_accuracy(ingested, tmp_path):
    accuracy, costs = train_and_score(ingested, tmp_path, ["experiment=cnn"])
    assert accuracy >= 0.975
    assert costs[-1] < costs[0] / 10
