"""The table a trained network writes, shared by `digitnet predict` and the MLflow model.

In: raw workbook pixels, one row per example, the columns in the order of sheet X. Out: the
predicted digit and one score per digit, p0..p9. Class j of the network is the digit j (labels
1..10 become classes by `preprocess.labels_to_classes`, 10 → 0), so the argmax over p0..p9 is the
digit itself. With `model.output=softmax` the scores are probabilities that add up to 1; with the
sigmoid output each is the network's own yes/no probability for its digit, and they need not add
up to 1.
"""

import numpy as np

DIGIT = "digit"


def score_columns(n_classes):
    """['p0', ..., 'p<n_classes-1>']: one score per digit, in class order."""
    return [f"p{digit}" for digit in range(n_classes)]


def predict_digits(network, X):
    """(digits shape (n_samples,), scores shape (n_samples, n_classes)) for raw pixels X."""
    scores = network.predict_proba(np.asarray(X, dtype=np.float64)).astype(np.float64)
    return np.argmax(scores, axis=1), scores
