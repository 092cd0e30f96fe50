"""The tables a trained network reads and writes, shared by `digitnet predict` and the MLflow model.

In: one row per example, one column per pixel, raw workbook values, named x1..x400 (column j of
sheet X is xj). Out: the predicted digit and one score per digit, p0..p9. Class j of the network
is the digit j (labels 1..10 become classes by `preprocess.labels_to_classes`, 10 → 0), so the
argmax over p0..p9 is the digit itself. With `model.output=softmax` the scores are probabilities
that add up to 1; with the sigmoid output each is the network's own yes/no probability for its
digit, and they need not add up to 1.
"""

import numpy as np

DIGIT = "digit"


def pixel_columns(n_features):
    """['x1', ..., 'x<n_features>']: the input columns, numbered like the workbook's columns."""
    return [f"x{j}" for j in range(1, n_features + 1)]


def score_columns(n_classes):
    """['p0', ..., 'p<n_classes-1>']: one score per digit, in class order."""
    return [f"p{digit}" for digit in range(n_classes)]


def output_columns(n_classes):
    return [DIGIT, *score_columns(n_classes)]


def predict_digits(network, X):
    """(digits shape (n_samples,), scores shape (n_samples, n_classes)) for raw pixels X."""
    scores = network.predict_proba(np.asarray(X, dtype=np.float64)).astype(np.float64)
    return np.argmax(scores, axis=1), scores
