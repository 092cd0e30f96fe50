"""Learning on the real sample digits: the defaults learn, the tutorial's settings do not.

The sample's arrays come straight from `sample_arrays()` (no Excel round trip), then go through
the same preprocessing and training functions as the pipeline.
"""

import numpy as np
import pytest

from digitnet import nn, preprocess
from digitnet.cli import load_config
from digitnet.fit import fit
from digitnet.sample import sample_arrays

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def digits():
    X, labels = sample_arrays()
    return X, preprocess.labels_to_classes(labels, 10)


def train_and_score(digits, overrides=()):
    """Test accuracy and cost history for the pipeline's config with `overrides`."""
    config = load_config(overrides)
    X, classes = digits
    train_rows, _, test_rows = preprocess.stratified_split(
        classes,
        config.data.val_fraction,
        config.data.test_fraction,
        np.random.default_rng(config.seed),
    )
    rng = np.random.default_rng(config.seed)  # a fresh generator, as in the train stage
    weights, biases = nn.init_params([X.shape[1], *config.model.hidden_sizes, 10], rng)
    costs = fit(
        weights,
        biases,
        X[train_rows],
        preprocess.one_hot(classes[train_rows], 10),
        activation=config.model.activation,
        lr=config.train.lr,
        epochs=config.train.epochs,
        batch_size=config.train.batch_size,
        l2=config.train.l2,
        rng=rng,
    )
    predicted = nn.predict(X[test_rows], weights, biases, config.model.activation)
    return float(np.mean(predicted == classes[test_rows])), costs


def test_default_settings_reach_90_percent_test_accuracy(digits):
    accuracy, costs = train_and_score(digits)
    assert accuracy >= 0.90
    assert costs[-1] < costs[0] / 5


def test_default_cost_decreases_over_training(digits):
    _, costs = train_and_score(digits, ["train.epochs=20"])
    assert np.all(np.diff(costs) < 0)


def test_tutorial_settings_stay_near_chance(digits):
    accuracy, costs = train_and_score(digits, ["experiment=tutorial"])
    assert accuracy < 0.3
    assert costs[-1] < costs[0]  # it does descend, just far too slowly
