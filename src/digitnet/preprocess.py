"""From workbook labels to training arrays: classes, one-hot targets, a stratified split, scaling.

Labels follow the ex3 convention: 1..n_classes, where n_classes stands for class 0 (label 10 is
the digit 0). Classes are 0..n_classes-1, and column j of a one-hot matrix is class j.
"""

import numpy as np

SCALINGS = ("none", "standard", "minmax")


def labels_to_classes(labels, n_classes):
    """Map workbook labels 1..n_classes to classes 0..n_classes-1 (label n_classes → class 0)."""
    labels = np.asarray(labels, dtype=np.int64)
    return np.where(labels == n_classes, 0, labels)


def one_hot(classes, n_classes, dtype=np.float64):
    """Shape (n_samples, n_classes), a single 1 per row, in the column of that row's class."""
    encoded = np.zeros((len(classes), n_classes), dtype=dtype)
    encoded[np.arange(len(classes)), classes] = 1
    return encoded


def stratified_split(classes, val_fraction, test_fraction, rng):
    """Row indices (train, val, test), each class divided in the same proportions.

    Within every class the rows are shuffled by `rng`, then round(n·test_fraction) go to test and
    round(n·val_fraction) to validation; the rest train. Each index array is sorted.
    """
    parts = ([], [], [])
    for cls in np.unique(classes):
        rows = rng.permutation(np.flatnonzero(classes == cls))
        n_test = int(round(len(rows) * test_fraction))
        n_val = int(round(len(rows) * val_fraction))
        parts[2].append(rows[:n_test])
        parts[1].append(rows[n_test : n_test + n_val])
        parts[0].append(rows[n_test + n_val :])
    return tuple(np.sort(np.concatenate(p)).astype(np.int64) for p in parts)


def fit_scaler(X_train, method):
    """(shift, scale) such that (X - shift) / scale is scaled by `method`, fitted on training rows.

    Constant columns (blank borders of the images) keep scale 1 rather than dividing by zero.
    """
    n_features = X_train.shape[1]
    if method == "none":
        return np.zeros(n_features), np.ones(n_features)
    if method == "standard":
        shift, scale = X_train.mean(axis=0), X_train.std(axis=0)
    elif method == "minmax":
        shift = X_train.min(axis=0)
        scale = X_train.max(axis=0) - shift
    else:
        raise ValueError(f"unknown scaling {method!r}; choose one of {', '.join(SCALINGS)}")
    return shift, np.where(scale > 0, scale, 1.0)


def apply_scaler(X, shift, scale):
    return (X - shift) / scale
