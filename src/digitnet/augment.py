"""More training images from the ones we have: each digit moved one pixel up, down, left, right.

A network without convolutions sees a digit one pixel to the left as a different input; showing
it the shifted copies teaches it that they are the same digit, which is worth a few points of
test accuracy on a 5,000-image set. Images are rows of square images stored column-major, as in
the workbook; the vacated edge is filled with `fill` (the background of the raw pixels).
"""

import math

import numpy as np

AUGMENTATIONS = ("none", "shifts")
SHIFTS = ((1, 0), (-1, 0), (0, 1), (0, -1))  # (down, right) in pixels


def image_side(n_features):
    """The side of the square images that `n_features` pixels make, or ValueError."""
    side = math.isqrt(n_features)
    if side * side != n_features:
        raise ValueError(f"{n_features} pixels per row are not a square image")
    return side


def shifted(X, fill=0.0):
    """X followed by its four one-pixel shifts: shape (5·n, n_features), rows in that order."""
    side = image_side(X.shape[1])
    # Column-major rows: reshape C-order to (n, column, row), so axis 1 is x and axis 2 is y.
    images = X.reshape(-1, side, side)
    copies = [X]
    for down, right in SHIFTS:
        moved = np.full_like(images, fill)
        moved[:, _dst(right, side), _dst(down, side)] = images[
            :, _src(right, side), _src(down, side)
        ]
        copies.append(moved.reshape(X.shape))
    return np.concatenate(copies)


def _dst(step, side):
    return slice(max(step, 0), side + min(step, 0))


def _src(step, side):
    return slice(max(-step, 0), side + min(-step, 0))


def augment(X, Y, method, fill=0.0):
    """(X, Y) grown by `method` (one of AUGMENTATIONS); labels follow their images."""
    if method == "none":
        return X, Y
    if method == "shifts":
        return shifted(X, fill), np.tile(Y, (1 + len(SHIFTS), 1))
    raise ValueError(f"unknown augmentation {method!r}; choose one of {', '.join(AUGMENTATIONS)}")
