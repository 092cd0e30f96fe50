"""Shifted copies: every image moved one pixel each way, upright, with its label."""

import numpy as np
import pytest

from digitnet.augment import augment, image_side, shifted


def column_major(image):
    """A square image as one workbook row (column-major, as in the workbook)."""
    return image.reshape(1, -1, order="F")


def upright(row, side):
    return row.reshape(side, side, order="F")


IMAGE = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]])


def test_shifted_returns_the_image_then_down_up_right_left():
    rows = shifted(column_major(IMAGE))
    down, up, right, left = (upright(row, 3) for row in rows[1:])
    assert np.array_equal(upright(rows[0], 3), IMAGE)
    assert down.tolist() == [[0, 0, 0], [1, 2, 3], [4, 5, 6]]
    assert up.tolist() == [[4, 5, 6], [7, 8, 9], [0, 0, 0]]
    assert right.tolist() == [[0, 1, 2], [0, 4, 5], [0, 7, 8]]
    assert left.tolist() == [[2, 3, 0], [5, 6, 0], [8, 9, 0]]


def test_the_vacated_edge_takes_the_fill_value():
    rows = shifted(column_major(IMAGE), fill=-1.0)
    assert upright(rows[1], 3)[0].tolist() == [-1, -1, -1]


def test_augment_keeps_each_label_with_its_images():
    X = np.vstack([column_major(IMAGE), column_major(10 * IMAGE)])
    Y = np.eye(2)
    grown_X, grown_Y = augment(X, Y, "shifts")
    assert grown_X.shape == (10, 9) and grown_Y.shape == (10, 2)
    # rows are [copy k of image 0, copy k of image 1] for k = 0..4; image 1 is 10x image 0
    assert np.array_equal(grown_X[1::2], 10 * grown_X[0::2])
    assert grown_Y[0::2].tolist() == [[1, 0]] * 5
    assert grown_Y[1::2].tolist() == [[0, 1]] * 5


def test_no_augmentation_returns_the_arrays_unchanged():
    X, Y = np.ones((2, 4)), np.eye(2)
    assert augment(X, Y, "none") == (X, Y)


def test_rows_that_are_not_square_images_are_refused():
    assert image_side(400) == 20
    with pytest.raises(ValueError, match="401 pixels per row are not a square image"):
        shifted(np.zeros((1, 401)))
