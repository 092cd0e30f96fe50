"""Scores from true and predicted classes."""

import numpy as np

from digitnet import metrics


def test_accuracy_is_the_share_of_right_answers():
    assert metrics.accuracy([0, 1, 2, 2], [0, 1, 1, 2]) == 0.75


def test_confusion_matrix_rows_are_true_classes_and_columns_predictions():
    counts = metrics.confusion_matrix([0, 0, 1, 2, 2], [0, 1, 1, 2, 0], 3)
    assert counts.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 1]]


def test_precision_and_recall_per_class_with_a_class_never_predicted():
    counts = np.array([[2, 0, 0], [1, 1, 0], [0, 2, 0]])
    precision, recall = metrics.precision_recall(counts)
    assert precision.tolist() == [2 / 3, 1 / 3, 0.0]
    assert recall.tolist() == [1.0, 0.5, 0.0]
