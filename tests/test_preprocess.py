"""From workbook labels to training arrays: classes, one-hot targets, stratified split, scaling."""

import warnings

import numpy as np
import pytest

from digitnet import preprocess


def test_label_10_is_the_digit_0_and_labels_1_to_9_keep_their_value():
    classes = preprocess.labels_to_classes([10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 10)
    assert classes.tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0]
    assert classes.dtype == np.int64


def test_labels_arrive_as_floats_from_a_workbook_and_become_integer_classes():
    assert preprocess.labels_to_classes(np.array([10.0, 3.0]), 10).tolist() == [0, 3]


def test_one_hot_column_j_is_class_j_with_a_single_1_per_row():
    encoded = preprocess.one_hot(np.array([0, 3, 9, 3]), 10)
    assert encoded.shape == (4, 10)
    assert encoded.dtype == np.float64
    assert encoded.sum(axis=1).tolist() == [1.0, 1.0, 1.0, 1.0]
    assert set(np.unique(encoded).tolist()) == {0.0, 1.0}
    assert [np.flatnonzero(row).tolist() for row in encoded] == [[0], [3], [9], [3]]


def test_one_hot_of_label_10_lights_column_0():
    classes = preprocess.labels_to_classes([10, 1], 10)
    assert preprocess.one_hot(classes, 10)[:, :2].tolist() == [[1.0, 0.0], [0.0, 1.0]]


def split_500_per_class(seed=0):
    classes = np.repeat(np.arange(10), 500)
    return classes, preprocess.stratified_split(classes, 0.1, 0.2, np.random.default_rng(seed))


def test_stratified_split_takes_the_same_share_of_every_class():
    classes, (train, val, test) = split_500_per_class()
    # per class: test round(500 · 0.2) = 100, val round(500 · 0.1) = 50, train the other 350
    assert np.bincount(classes[train]).tolist() == [350] * 10
    assert np.bincount(classes[val]).tolist() == [50] * 10
    assert np.bincount(classes[test]).tolist() == [100] * 10


def test_stratified_split_parts_are_disjoint_and_cover_every_row():
    _, (train, val, test) = split_500_per_class()
    assert not set(train) & set(val)
    assert not set(train) & set(test)
    assert not set(val) & set(test)
    assert set(train) | set(val) | set(test) == set(range(5000))


def test_stratified_split_parts_are_sorted_int64_indices():
    _, parts = split_500_per_class()
    for part in parts:
        assert part.dtype == np.int64
        assert np.all(np.diff(part) > 0)


def test_stratified_split_rounds_each_class_on_its_own():
    classes = np.array([0] * 10 + [1] * 30)
    train, val, test = preprocess.stratified_split(classes, 0.12, 0.2, np.random.default_rng(0))
    # class 0: test round(10 · 0.2) = 2, val round(10 · 0.12 = 1.2) = 1, train 10 - 3 = 7
    # class 1: test round(30 · 0.2) = 6, val round(30 · 0.12 = 3.6) = 4, train 30 - 10 = 20
    assert np.bincount(classes[test]).tolist() == [2, 6]
    assert np.bincount(classes[val]).tolist() == [1, 4]
    assert np.bincount(classes[train]).tolist() == [7, 20]


def test_stratified_split_is_fixed_by_the_seed_and_shuffles_with_another():
    _, a = split_500_per_class(seed=7)
    _, b = split_500_per_class(seed=7)
    _, c = split_500_per_class(seed=8)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not any(np.array_equal(x, y) for x, y in zip(a, c, strict=True))


def test_standard_scaling_gives_training_columns_mean_0_and_std_1():
    rng = np.random.default_rng(0)
    X = rng.normal(loc=[3.0, -7.0, 0.5], scale=[2.0, 0.1, 10.0], size=(50, 3))
    scaled = preprocess.apply_scaler(X, *preprocess.fit_scaler(X, "standard"))
    assert scaled.mean(axis=0) == pytest.approx(np.zeros(3), abs=1e-12)
    assert scaled.std(axis=0) == pytest.approx(np.ones(3), rel=1e-12)


def test_standard_scaling_on_a_hand_example_keeps_a_constant_column_at_scale_1():
    X = np.array([[1.0, 5.0, 0.0], [3.0, 5.0, 2.0], [5.0, 5.0, 4.0]])
    # means [3, 5, 2]; population stds [sqrt(8/3), 0, sqrt(8/3)], the 0 replaced by 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a division by zero would warn
        shift, scale = preprocess.fit_scaler(X, "standard")
        scaled = preprocess.apply_scaler(X, shift, scale)
    assert shift.tolist() == pytest.approx([3.0, 5.0, 2.0])
    assert scale.tolist() == pytest.approx([np.sqrt(8 / 3), 1.0, np.sqrt(8 / 3)])
    assert np.all(np.isfinite(scaled))
    assert scaled[:, 1].tolist() == [0.0, 0.0, 0.0]


def test_minmax_scaling_maps_training_columns_onto_0_1():
    X = np.array([[1.0, -2.0, 7.0], [3.0, 2.0, 7.0], [2.0, 0.0, 7.0]])
    shift, scale = preprocess.fit_scaler(X, "minmax")
    # shift = min = [1, -2, 7]; scale = max - min = [2, 4, 0 → 1]
    assert shift.tolist() == [1.0, -2.0, 7.0]
    assert scale.tolist() == [2.0, 4.0, 1.0]
    scaled = preprocess.apply_scaler(X, shift, scale)
    assert scaled.tolist() == [[0.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.5, 0.5, 0.0]]


def test_scaling_fitted_on_training_rows_is_applied_unchanged_to_other_rows():
    train = np.array([[0.0], [10.0]])
    shift, scale = preprocess.fit_scaler(train, "minmax")
    # an unseen row outside the training range lands outside [0, 1]: (15 - 0) / 10 = 1.5
    assert preprocess.apply_scaler(np.array([[15.0], [-5.0]]), shift, scale).tolist() == [
        [1.5],
        [-0.5],
    ]


def test_no_scaling_is_the_identity():
    X = np.array([[1.5, -2.0], [3.0, 2.0]])
    shift, scale = preprocess.fit_scaler(X, "none")
    assert shift.tolist() == [0.0, 0.0] and scale.tolist() == [1.0, 1.0]
    assert np.array_equal(preprocess.apply_scaler(X, shift, scale), X)


def test_every_listed_scaling_is_accepted():
    for method in preprocess.SCALINGS:
        shift, scale = preprocess.fit_scaler(np.ones((2, 3)), method)
        assert shift.shape == scale.shape == (3,)


def test_unknown_scaling_raises_listing_the_valid_ones():
    with pytest.raises(ValueError) as raised:
        preprocess.fit_scaler(np.ones((2, 2)), "zscore")
    assert str(raised.value) == "unknown scaling 'zscore'; choose one of none, standard, minmax"
