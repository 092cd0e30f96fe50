"""Figures as PNG files: cost curve, confusion matrix, misclassified digits, hidden units.

Each is a plain `matplotlib.figure.Figure`, outside pyplot's registry of open figures, so nothing
has to close it. The cost curve and confusion matrix place their axes at fixed margins, because a
tight layout measures every text by drawing the figure once more before saving it; the image
figures tile every picture into one array and draw it with a single imshow, rather than dozens of
subplots. Both keep a sweep job's figures cheap (see docs/benchmarks.md). Each function returns
the figure it saved.
"""

import math

import matplotlib

matplotlib.use("Agg")  # files only, never a window
import matplotlib.pyplot as plt  # noqa: E402  (for summary.py's figures)
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from digitnet.artifacts import atomic_path  # noqa: E402


def save_figure(fig, path):
    """Write `fig` as a PNG, whole or not at all; a pyplot figure is freed even if writing fails."""
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=100)
    finally:
        plt.close(fig)  # summary.py's pyplot figures; a plain Figure is left to its owner
    return fig


def framed_axes(fig, left, bottom, right, top):
    """Axes in `fig` with margins of the given inches: room for tick labels, labels, title."""
    width, height = fig.get_size_inches()
    return fig.add_axes(
        (left / width, bottom / height, 1 - (left + right) / width, 1 - (bottom + top) / height)
    )


def cost_curve(costs, path, title="Training cost"):
    fig = Figure(figsize=(6, 4))
    ax = framed_axes(fig, left=0.85, bottom=0.55, right=0.15, top=0.35)
    ax.plot(np.arange(1, len(costs) + 1), costs)
    ax.set_xlabel("epoch")
    ax.set_ylabel("cost (cross-entropy)")
    ax.grid(alpha=0.3)
    ax.set_title(title)
    return save_figure(fig, path)


def confusion(counts, path, title="Confusion matrix (test)"):
    counts = np.asarray(counts)
    n_classes = counts.shape[0]
    fig = Figure(figsize=(5.5, 5))
    ax = framed_axes(fig, left=0.7, bottom=0.6, right=0.2, top=0.4)  # the square sits centred
    ax.imshow(counts, cmap="Blues")
    half = counts.max() / 2
    for (i, j), n in np.ndenumerate(counts):
        color = "white" if n > half else "black"
        ax.text(j, i, str(n), ha="center", va="center", fontsize=8, color=color)
    ax.set_xticks(range(n_classes))
    ax.set_yticks(range(n_classes))
    ax.set_xlabel("predicted digit")
    ax.set_ylabel("true digit")
    ax.set_title(title)
    return save_figure(fig, path)


GALLERY_LIMIT = 36  # misclassified digits shown
UNITS_LIMIT = 100  # hidden units shown


def image_side(n_pixels):
    """The side of a square image of `n_pixels` pixels, or None when they make no square."""
    side = math.isqrt(n_pixels)
    return side if side * side == n_pixels else None


def tile(images, n_cols, gap=1, band=0):
    """Lay square images out upright in one array, so a figure needs a single imshow.

    `images` has shape (n_images, side * side), each row stored column-major as in the workbook
    (ex3: `row.reshape(side, side, order="F")` is upright). Image k sits in grid cell
    (k // n_cols, k % n_cols); each cell has `band` blank rows above the image for its caption
    and `gap` blank pixels around it. Blank pixels are NaN, which the figures paint white.
    Returns (mosaic, origins): origins has shape (n_images, 2), the (row, column) in the mosaic
    of each image's top-left pixel.
    """
    images = np.asarray(images, dtype=float)
    n_images, side = len(images), image_side(images.shape[1])
    n_rows = -(-n_images // n_cols)
    cell_height, cell_width = band + side + gap, side + gap
    cells = np.full((n_rows * n_cols, cell_height, cell_width), np.nan)
    cells[:n_images, band : band + side, :side] = images.reshape(-1, side, side).transpose(0, 2, 1)
    rows_of_cells = cells.reshape(n_rows, n_cols, cell_height, cell_width).transpose(0, 2, 1, 3)
    mosaic = np.pad(
        rows_of_cells.reshape(n_rows * cell_height, n_cols * cell_width),
        ((gap, 0), (gap, 0)),
        constant_values=np.nan,
    )
    k = np.arange(n_images)
    origins = np.column_stack(
        [gap + band + k // n_cols * cell_height, gap + k % n_cols * cell_width]
    )
    return mosaic, origins


def misclassified_examples(images, true_digits, predicted_digits, limit=GALLERY_LIMIT):
    """Up to `limit` wrongly predicted rows: (images, true, predicted, n_wrong).

    With more than `limit` wrong, the rows shown are spread evenly over all of them, in order, so
    the gallery samples the whole test set, not only its first rows (in ex3-style workbooks,
    sorted by label, those would all be one digit).
    """
    true_digits, predicted_digits = np.asarray(true_digits), np.asarray(predicted_digits)
    wrong = np.flatnonzero(true_digits != predicted_digits)
    shown = wrong
    if len(wrong) > limit:
        shown = wrong[np.linspace(0, len(wrong) - 1, limit).round().astype(int)]
    return np.asarray(images)[shown], true_digits[shown], predicted_digits[shown], len(wrong)


def unit_images(W0, limit=UNITS_LIMIT):
    """The first `limit` units' incoming weights as images, shape (n_shown, n_inputs).

    `W0` has shape (n_inputs, n_units), one column per unit. Each unit is divided by its largest
    absolute weight, so its image spans [-1, 1] with 0 in the middle of the grey scale: the
    pattern, not the size of the weights, is what the picture is for.
    """
    shown = np.asarray(W0, dtype=float)[:, :limit].T
    largest = np.abs(shown).max(axis=1, keepdims=True)
    return shown / np.where(largest > 0, largest, 1.0)


def grid_columns(n_images):
    """Columns of a near-square grid for `n_images`."""
    return max(1, math.ceil(math.sqrt(n_images)))


def gallery_title(n_shown, n_wrong, n_total):
    some = f"{n_shown} shown, " if n_shown < n_wrong else ""
    return f"Misclassified test digits: {n_wrong} of {n_total}\n{some}captioned true → predicted"


def units_caption(n_shown, n_units, noun="units"):
    count = f"first {n_shown} of {n_units} {noun}" if n_shown < n_units else f"{n_units} {noun}"
    return f"{count}, each on its own grey scale (0 is mid grey)"


def _mosaic_figure(mosaic, title, vmin, vmax, n_cols, cell_inches, captions=()):
    """One imshow of `mosaic`, `cell_inches` wide per grid column, under a two-line title, with
    `captions`: ((x, y), text) pairs in the mosaic's pixel coordinates."""
    image_width = cell_inches * n_cols
    image_height = image_width * mosaic.shape[0] / mosaic.shape[1]
    width, height = max(4.0, image_width), image_height + 0.6
    fig = Figure(figsize=(width, height))
    left = (width - image_width) / 2
    ax = fig.add_axes((left / width, 0, image_width / width, image_height / height))
    cmap = matplotlib.colormaps["gray"].with_extremes(bad="white")  # blank pixels between images
    ax.imshow(mosaic, cmap=cmap, interpolation="nearest", vmin=vmin, vmax=vmax)
    ax.set_axis_off()
    fig.suptitle(title, fontsize=10, y=1 - 0.1 / height, va="top")
    for (x, y), caption in captions:
        ax.text(x, y, caption, ha="center", va="center", fontsize=8)
    return fig


def _notice(path, text):
    """A small figure that only says `text`, for when there is nothing to draw."""
    fig = Figure(figsize=(5, 1.2))
    fig.text(0.5, 0.5, text, ha="center", va="center", fontsize=10)
    return save_figure(fig, path)


def misclassified(images, true_digits, predicted_digits, path, limit=GALLERY_LIMIT):
    """A gallery of wrongly predicted test digits, each captioned "true → predicted".

    `images` are raw pixels, shape (n_samples, side * side), column-major as in the workbook.
    """
    shown, true_shown, predicted_shown, n_wrong = misclassified_examples(
        images, true_digits, predicted_digits, limit
    )
    n_total = len(np.asarray(true_digits))
    side = image_side(np.shape(images)[1])
    if n_wrong == 0:
        return _notice(path, f"All {n_total} test digits are classified correctly")
    if side is None:
        return _notice(path, f"{np.shape(images)[1]} pixels make no square image: nothing drawn")
    n_cols = grid_columns(len(shown))
    band = max(2, round(0.45 * side))
    mosaic, origins = tile(shown, n_cols, band=band)
    captions = [
        ((left + (side - 1) / 2, top - 0.5 - band / 2), f"{true} → {predicted}")
        for (top, left), true, predicted in zip(origins, true_shown, predicted_shown, strict=True)
    ]
    title = gallery_title(len(shown), n_wrong, n_total)
    vmin, vmax = np.min(shown), np.max(shown)
    return save_figure(_mosaic_figure(mosaic, title, vmin, vmax, n_cols, 0.8, captions), path)


def hidden_weights(
    W0, path, limit=UNITS_LIMIT, title="Hidden units: incoming weights", noun="units"
):
    """Each hidden unit's incoming weights drawn as an image (ex4's hidden layer picture).

    `W0` has shape (n_inputs, n_units); a convolution's filters, as columns, are drawn the same
    way (`noun` names them in the caption). Each unit has its own symmetric grey scale: white is its
    largest absolute weight when positive, black when negative, mid grey zero.
    """
    n_inputs, n_units = np.shape(W0)
    if image_side(n_inputs) is None:
        return _notice(path, f"{n_inputs} inputs make no square image: nothing drawn")
    images = unit_images(W0, limit)
    n_cols = grid_columns(len(images))
    mosaic, _ = tile(images, n_cols)
    caption = units_caption(len(images), n_units, noun)
    fig = _mosaic_figure(mosaic, f"{title}\n{caption}", -1.0, 1.0, n_cols, 0.6)
    return save_figure(fig, path)
