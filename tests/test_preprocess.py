"""From workbook labels to training arrays."""

import numpy as np
import pytest

from digitnet import preprocess


def test_label_10_is_the_digit_0_and_others_keep_their_value():
    assert preprocess.labels_to_classes([10, 1, 9, 10, 5], 10).tolist() == [0, 1, 9, 0, 5]


def test_one_hot_column_j_is_class_j():
    encoded = preprocess.one_hot(np.array([0, 3, 9]), 10)
    assert encoded.shape == (3, 10)
    assert encoded.sum(axis=1).tolist() == [1, 1, 1]
    assert np.argmax(encoded, axis=1).tolist() == [0, 3, 9]


def test_stratified_split_divides_every_class_in_the_same_proportions():
    classes = np.repeat(np.arange(10), 500)
    train, val, test = preprocess.stratified_split(classes, 0.1, 0.2, np.random.default_rng(0))
    assert [np.bincount(classes[p]).tolist() for p in (train, val, test)] == [
        [350] * 10,
        [50] * 10,
        [100] * 10,
    ]
    everything = np.concatenate([train, val, test])
    assert sorted(everything.tolist()) == list(range(5000))
    assert all(np.array_equal(p, np.sort(p)) for p in (train, val, test))


def test_stratified_split_is_fixed_by_the_seed():
    classes = np.repeat(np.arange(3), 20)
    a = preprocess.stratified_split(classes, 0.2, 0.2, np.random.default_rng(7))
    b = preprocess.stratified_split(classes, 0.2, 0.2, np.random.default_rng(7))
    c = preprocess.stratified_split(classes, 0.2, 0.2, np.random.default_rng(8))
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[2], c[2])


def test_standard_scaling_is_fitted_on_training_rows_and_spares_constant_columns():
    X = np.array([[1.0, 5.0, 0.0], [3.0, 5.0, 2.0], [5.0, 5.0, 4.0]])
    shift, scale = preprocess.fit_scaler(X, "standard")
    scaled = preprocess.apply_scaler(X, shift, scale)
    assert scaled.mean(axis=0) == pytest.approx(np.zeros(3))
    assert scaled.std(axis=0) == pytest.approx(np.array([1.0, 0.0, 1.0]))
    assert scale[1] == 1.0


def test_minmax_maps_training_rows_onto_0_1_and_none_is_identity():
    X = np.array([[1.0, -2.0], [3.0, 2.0]])
    scaled = preprocess.apply_scaler(X, *preprocess.fit_scaler(X, "minmax"))
    assert scaled.tolist() == [[0.0, 0.0], [1.0, 1.0]]
    assert np.array_equal(preprocess.apply_scaler(X, *preprocess.fit_scaler(X, "none")), X)


def test_unknown_scaling_lists_the_valid_ones():
    with pytest.raises(ValueError) as raised:
        preprocess.fit_scaler(np.ones((2, 2)), "zscore")
    assert str(raised.value) == "unknown scaling 'zscore'; choose one of none, standard, minmax"
