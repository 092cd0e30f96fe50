"""The figures: which pictures they hold, upright and scaled; evaluate writes and logs them."""

from pathlib import Path

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from digitnet import evaluation, ingestion, plots, splits, training
from digitnet.artifacts import load_npz
from digitnet.cli import load_config

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def stored(upright):
    """An upright image as the workbook stores it: one row, column-major (ex3 layout)."""
    return upright.flatten(order="F")


def test_image_side_is_the_side_of_a_square_or_none():
    assert plots.image_side(400) == 20
    assert plots.image_side(16) == 4
    assert plots.image_side(399) is None


def test_tile_shows_a_column_major_image_upright():
    letter_l = np.array(
        [
            [1, 0, 0],
            [1, 0, 0],
            [1, 1, 1],
        ]
    )
    mosaic, origins = plots.tile([stored(letter_l)], n_cols=1)
    ((top, left),) = origins
    assert np.array_equal(mosaic[top : top + 3, left : left + 3], letter_l)
    assert not np.array_equal(letter_l, letter_l.T)  # so a transposed tile would fail


def test_tile_lays_images_out_row_by_row_with_blank_bands_and_gaps():
    images = np.arange(5 * 4).reshape(5, 4)  # five 2x2 images
    mosaic, origins = plots.tile(images, n_cols=3, gap=1, band=2)
    # cells are band 2 + side 2 + gap 1 = 5 rows by side 2 + gap 1 = 3 columns, one gap before
    assert mosaic.shape == (1 + 2 * 5, 1 + 3 * 3)
    assert origins.tolist() == [[3, 1], [3, 4], [3, 7], [8, 1], [8, 4]]
    for image, (top, left) in zip(images, origins, strict=True):
        assert np.array_equal(mosaic[top : top + 2, left : left + 2], image.reshape(2, 2).T)
    assert np.isnan(mosaic).sum() == mosaic.size - 5 * 4  # everything else is blank


def test_misclassified_examples_are_exactly_the_wrong_predictions_in_order():
    images = np.arange(5)[:, None] * np.ones((5, 4))  # row i is filled with i
    true = np.array([1, 2, 3, 4, 5])
    predicted = np.array([1, 0, 3, 9, 5])
    shown, shown_true, shown_predicted, n_wrong = plots.misclassified_examples(
        images, true, predicted
    )
    assert shown[:, 0].tolist() == [1, 3]
    assert shown_true.tolist() == [2, 4]
    assert shown_predicted.tolist() == [0, 9]
    assert n_wrong == 2


def test_more_wrong_than_the_limit_are_sampled_evenly_from_first_to_last():
    true = np.zeros(20, dtype=int)
    predicted = np.where(np.arange(20) % 2 == 1, 7, 0)  # rows 1, 3, ..., 19 are wrong
    images = np.arange(20)[:, None] * np.ones((20, 4))
    shown, _, _, n_wrong = plots.misclassified_examples(images, true, predicted, limit=4)
    assert n_wrong == 10
    assert shown[:, 0].tolist() == [1, 7, 13, 19]


def test_no_wrong_predictions_give_an_empty_selection():
    true = np.array([3, 1, 4])
    shown, shown_true, _, n_wrong = plots.misclassified_examples(np.ones((3, 4)), true, true)
    assert (len(shown), len(shown_true), n_wrong) == (0, 0, 0)


def test_unit_images_scale_each_unit_to_its_largest_absolute_weight():
    W0 = np.array(
        [
            [2.0, -0.5, 0.0],
            [-1.0, 0.25, 0.0],
            [0.0, 0.1, 0.0],
            [1.0, -0.2, 0.0],
        ]
    )  # (n_inputs 4, n_units 3)
    images = plots.unit_images(W0)
    assert images.shape == (3, 4)
    assert images[0].tolist() == [1.0, -0.5, 0.0, 0.5]
    assert images[1].tolist() == pytest.approx([-1.0, 0.5, 0.2, -0.4])
    assert images[2].tolist() == [0.0, 0.0, 0.0, 0.0]  # a dead unit stays mid grey


def test_unit_images_keep_only_the_first_units_up_to_the_limit():
    W0 = np.arange(1, 4 * 150 + 1, dtype=float).reshape(4, 150)
    images = plots.unit_images(W0, limit=100)
    assert images.shape == (100, 4)
    assert np.array_equal(images[-1], W0[:, 99] / W0[:, 99].max())


def test_titles_say_when_only_part_is_shown():
    assert plots.gallery_title(36, 88, 1000) == (
        "Misclassified test digits: 88 of 1000\n36 shown, captioned true → predicted"
    )
    assert plots.gallery_title(5, 5, 1000).endswith(": 5 of 1000\ncaptioned true → predicted")
    assert plots.units_caption(100, 300).startswith("first 100 of 300 units,")
    assert plots.units_caption(25, 25).startswith("25 units,")
    assert plots.units_caption(32, 32, "filters").startswith("32 filters,")


@pytest.mark.parametrize(
    "draw",
    [
        lambda path: plots.misclassified(np.eye(3, 16), [1, 2, 3], [1, 5, 3], path),
        lambda path: plots.misclassified(np.eye(3, 16), [1, 2, 3], [1, 2, 3], path),
        lambda path: plots.misclassified(np.eye(3, 15), [1, 2, 3], [0, 0, 0], path),
        lambda path: plots.hidden_weights(np.ones((400, 150)), path),
        lambda path: plots.hidden_weights(np.ones((15, 4)), path),
    ],
    ids=["some wrong", "none wrong", "not square", "capped units", "no square inputs"],
)
def test_every_case_draws_a_png(tmp_path, draw):
    draw(tmp_path / "figure.png")
    assert (tmp_path / "figure.png").read_bytes().startswith(PNG_SIGNATURE)
    assert [p.name for p in tmp_path.iterdir()] == ["figure.png"]  # no temporary file left


def pixels(path):
    import matplotlib.image

    return matplotlib.image.imread(path)


def texts(fig):
    """Every text drawn in `fig`: the figure's own, then each axes' title and texts."""
    found = [t.get_text() for t in fig.texts]
    for ax in fig.axes:
        found += [ax.get_title(), *(t.get_text() for t in ax.texts)]
    return [text for text in found if text]


def test_the_cost_curve_plots_each_cost_at_its_1_based_epoch(tmp_path):
    costs = np.geomspace(80.0, 0.01, 40)
    fig = plots.cost_curve(costs, tmp_path / "cost.png", title="Run 7")
    (ax,) = fig.axes
    (line,) = ax.get_lines()
    np.testing.assert_array_equal(line.get_xdata(), np.arange(1, 41))
    np.testing.assert_array_equal(line.get_ydata(), costs)
    (x_low, x_high), (y_low, y_high) = ax.get_xlim(), ax.get_ylim()
    assert x_low <= 1 and 40 <= x_high and y_low <= 0.01 and 80 <= y_high
    assert (ax.get_title(), ax.get_xlabel()) == ("Run 7", "epoch")
    assert pixels(tmp_path / "cost.png").shape[:2] == (400, 600)


def test_the_confusion_matrix_writes_every_count_white_on_the_dark_half(tmp_path):
    counts = np.array([[0, 7, 0], [3, 3, 3], [40, 0, 1]])
    fig = plots.confusion(counts, tmp_path / "confusion.png")
    (ax,) = fig.axes
    (image,) = ax.get_images()
    np.testing.assert_array_equal(image.get_array(), counts)
    assert image.get_clim() == (0, 40)
    cells = ax.texts  # row by row
    assert [cell.get_text() for cell in cells] == [str(n) for n in counts.flat]
    assert [cell.get_position() for cell in cells][5] == (2, 1)  # (column, row) of counts[1, 2]
    assert [cell.get_color() for cell in cells].count("white") == 1  # only 40 is above 40 / 2
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("predicted digit", "true digit")


def test_the_gallery_captions_each_digit_true_then_predicted_under_a_count_of_all_wrong(tmp_path):
    digits = np.random.default_rng(0).random((40, 16)) * 3  # 4 x 4 images
    true, predicted = np.arange(40) % 10, (np.arange(40) + 1) % 10  # all 40 wrong
    fig = plots.misclassified(digits, true, predicted, tmp_path / "gallery.png")
    shown, shown_true, shown_predicted, _ = plots.misclassified_examples(digits, true, predicted)
    (image,) = fig.axes[0].get_images()
    assert image.get_clim() == (shown.min(), shown.max())
    assert [t.get_text() for t in fig.axes[0].texts] == [
        f"{t} → {p}" for t, p in zip(shown_true, shown_predicted, strict=True)
    ]
    assert fig.texts[0].get_text() == plots.gallery_title(36, 40, 40)


def test_hidden_units_share_one_symmetric_scale_and_say_how_many_are_shown(tmp_path):
    W0 = np.random.default_rng(1).normal(size=(16, 150))
    fig = plots.hidden_weights(W0, tmp_path / "units.png", title="Units")
    (image,) = fig.axes[0].get_images()
    assert image.get_clim() == (-1.0, 1.0)
    mosaic, _ = plots.tile(plots.unit_images(W0), plots.grid_columns(100))
    np.testing.assert_array_equal(image.get_array().filled(np.nan), mosaic)
    assert fig.texts[0].get_text() == "Units\n" + plots.units_caption(100, 150)


@pytest.mark.parametrize(
    "draw, notice",
    [
        (
            lambda path: plots.misclassified(np.eye(3, 16), [1, 2, 3], [1, 2, 3], path),
            "All 3 test digits are classified correctly",
        ),
        (
            lambda path: plots.misclassified(np.eye(3, 15), [1, 2, 3], [0, 0, 0], path),
            "15 pixels make no square image: nothing drawn",
        ),
        (
            lambda path: plots.hidden_weights(np.ones((15, 4)), path),
            "15 inputs make no square image: nothing drawn",
        ),
    ],
    ids=["none wrong", "not square", "no square inputs"],
)
def test_with_nothing_to_draw_the_figure_says_why(tmp_path, draw, notice):
    fig = draw(tmp_path / "figure.png")
    assert texts(fig) == [notice]
    assert not fig.axes


def test_each_drawing_starts_from_a_blank_figure(tmp_path):
    first = plots.confusion(np.eye(5, dtype=int), tmp_path / "first.png")
    second = plots.confusion(np.eye(3, dtype=int), tmp_path / "second.png")
    assert first is not second
    assert len(second.axes[0].texts) == 9
    again = plots.confusion(np.eye(5, dtype=int), tmp_path / "again.png")
    np.testing.assert_array_equal(pixels(tmp_path / "first.png"), pixels(tmp_path / "again.png"))
    assert len(again.axes[0].texts) == 25


@pytest.fixture
def tracked(tmp_path, tiny_workbook, monkeypatch):
    """A trained tiny model with standard-scaled inputs, its run in a temporary SQLite store."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'store.db'}")
    config = load_config(
        [
            f"data.workbook={tiny_workbook}",
            "data.scaling=standard",
            "data.val_fraction=0.25",
            "data.test_fraction=0.25",
            "train.epochs=5",
            "train.batch_size=16",
        ]
    )
    ingestion.from_config(config)
    test_rows = splits.from_config(config)[2]
    training.train_model(
        config=config, processed=config.paths.processed, model_dir=config.paths.model
    )
    return config, test_rows


def run_evaluate(config):
    uri, run_id = evaluation.training_run(config, config.paths.model)
    evaluation.evaluate_model(
        processed=config.paths.processed,
        model_dir=config.paths.model,
        out=config.paths.eval,
        tracking_uri=uri,
        run_id=run_id,
    )
    return uri, run_id


def test_evaluate_writes_all_four_figures_and_logs_them_to_the_training_run(tracked):
    config, _ = tracked
    uri, run_id = run_evaluate(config)
    names = ("cost.png", "confusion.png", "misclassified.png", "hidden_weights.png")
    for name in names:
        assert (Path(config.paths.eval) / name).read_bytes().startswith(PNG_SIGNATURE)
    logged = {a.path for a in MlflowClient(uri).list_artifacts(run_id, "evaluation")}
    assert {f"evaluation/{name}" for name in names} <= logged


def test_the_gallery_gets_raw_workbook_pixels_and_digits_even_from_scaled_inputs(
    tracked, monkeypatch
):
    config, test_rows = tracked
    drawn = {}
    draw = plots.misclassified

    def record(images, true_digits, predicted_digits, path):
        drawn.update(images=images, true=true_digits, predicted=predicted_digits)
        draw(images, true_digits, predicted_digits, path)

    monkeypatch.setattr(plots, "misclassified", record)
    run_evaluate(config)
    ingested = load_npz(config.paths.ingested)
    assert drawn["images"] == pytest.approx(ingested["X"][test_rows])
    assert drawn["true"].tolist() == (ingested["y"][test_rows] % 10).tolist()  # label 10 is 0
    assert len(drawn["predicted"]) == len(test_rows)
