"""The table a trained network writes, shared by `digitnet predict` and the MLflow model.

In: raw workbook pixels, one row per example, the columns in the order of sheet X. Out: the
predicted digit and one score per digit, p0..p9. Class j of the network is the digit j (labels
1..10 become classes by `preprocess.labels_to_classes`, 10 → 0), so the argmax over p0..p9 is the
digit itself. With `model.output=softmax` the scores are probabilities that add up to 1; with the
sigmoid output each is the network's own yes/no probability for its digit, and they need not add
up to 1.

Both refuse what the network cannot answer (`InputError`): NaN, an infinity, and a finite value
that overflows once scaled as the training data was, or that makes its row's scores overflow.
NumPy would answer such a row with NaN scores and digit 0, and a served model with NaN in JSON.
"""

import numpy as np

from digitnet.errors import InputError

DIGIT = "digit"


def score_columns(n_classes):
    """['p0', ..., 'p<n_classes-1>']: one score per digit, in class order."""
    return [f"p{digit}" for digit in range(n_classes)]


TRAINED_SIZE = "pixels must be of the size the model was trained on"


def predict_digits(network, X):
    """(digits shape (n_samples,), scores shape (n_samples, n_classes)) for raw pixels X.

    Raises `InputError` at the first value (in reading order) that is not finite, or that
    overflows once scaled; then, for the first row whose forward pass overflows, at its largest
    scaled value. An overflow inside the network would otherwise be a warning and NaN scores.
    """
    X = np.asarray(X, dtype=np.float64)
    _refuse(~np.isfinite(X), X, "; every pixel must be a finite number")
    with np.errstate(over="ignore", invalid="ignore"):  # found here, not warned about
        scaled = network.scaled(X)
    _refuse(~np.isfinite(scaled), X, f", which overflows once scaled; {TRAINED_SIZE}")
    try:
        scores = _scores(network, X)
    except FloatingPointError:
        row = _first_overflowing_row(network, X)
        col = int(np.argmax(np.abs(scaled[row])))
        raise InputError(
            row, col, f"{_held(X[row, col])}, which overflows in the network; {TRAINED_SIZE}"
        ) from None
    return np.argmax(scores, axis=1), scores


def _scores(network, X):
    """The network's scores; an overflow or a NaN on the way raises FloatingPointError.

    (The sigmoid's own expected overflow of e^-z is ignored where it happens, in nn.sigmoid.)
    """
    with np.errstate(over="raise", invalid="raise"):
        return network.predict_proba(X).astype(np.float64)


def _first_overflowing_row(network, X):
    """The index of the first row whose forward pass alone overflows (0 if none does)."""
    for row in range(len(X)):
        try:
            _scores(network, X[row : row + 1])
        except FloatingPointError:
            return row
    return 0


def _refuse(bad, X, why):
    """An `InputError` at the first True of `bad` (along row 1, then row 2, ...), if any."""
    if bad.any():
        row, col = np.unravel_index(np.argmax(bad), bad.shape)
        raise InputError(int(row), int(col), f"{_held(X[row, col])}{why}")


def _held(value):
    return f"holds {value:.15g}"
