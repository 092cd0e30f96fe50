"""Scores from true and predicted classes, worked by hand."""

import warnings

import numpy as np
import pytest

from digitnet import metrics

# Five examples over three classes: true 0 0 1 2 2, predicted 0 1 1 2 0.
Y_TRUE = [0, 0, 1, 2, 2]
Y_PRED = [0, 1, 1, 2, 0]


def test_accuracy_is_the_share_of_right_answers():
    # right at positions 1, 3 and 4: 3/5
    value = metrics.accuracy(Y_TRUE, Y_PRED)
    assert value == pytest.approx(0.6)
    assert type(value) is float


def test_accuracy_accepts_arrays():
    assert metrics.accuracy(np.array([1, 1, 1, 1]), np.array([1, 0, 1, 1])) == pytest.approx(0.75)


def test_confusion_matrix_rows_are_true_classes_and_columns_predictions():
    counts = metrics.confusion_matrix(Y_TRUE, Y_PRED, 3)
    # true 0: predicted 0 once, 1 once; true 1: predicted 1 once; true 2: predicted 2 once, 0 once
    assert counts.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 1]]
    assert counts.dtype == np.int64


def test_confusion_matrix_counts_repeated_pairs_and_has_a_row_for_every_class():
    counts = metrics.confusion_matrix([1, 1, 1], [0, 0, 0], 4)
    assert counts.shape == (4, 4)
    assert counts[1, 0] == 3
    assert counts.sum() == 3


def test_precision_and_recall_on_a_hand_worked_confusion_matrix():
    counts = np.array([[2, 0, 0], [1, 1, 0], [0, 2, 0]])
    # predicted columns sum to [3, 3, 0], true rows to [2, 2, 2]; diagonal [2, 1, 0]
    # precision = [2/3, 1/3, 0 (class 2 is never predicted)]; recall = [2/2, 1/2, 0/2]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 0/0 must not warn
        precision, recall = metrics.precision_recall(counts)
    assert precision.tolist() == pytest.approx([2 / 3, 1 / 3, 0.0])
    assert recall.tolist() == pytest.approx([1.0, 0.5, 0.0])


def test_a_class_never_seen_has_recall_0_without_warnings():
    counts = metrics.confusion_matrix([0, 0, 1], [0, 2, 1], 3)
    # class 2: no true examples (row sum 0) and one false positive (column sum 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        precision, recall = metrics.precision_recall(counts)
    assert recall.tolist() == pytest.approx([0.5, 1.0, 0.0])
    assert precision.tolist() == pytest.approx([1.0, 1.0, 0.0])
