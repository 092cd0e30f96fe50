"""The sweep summary: ranking, the console table, the CSV and the figures, from job records."""

import csv

import matplotlib.image
import numpy as np
import pytest

from digitnet import summary

PNG = b"\x89PNG\r\n\x1a\n"
DIVERGED = "training diverged: the cost became nan at epoch 3; lower train.lr (now 5.0)"


def job(n, status="FINISHED", val=None, cost=None, seconds=1.0, error=None, test=None, **keys):
    """A job record as digitnet.sweep writes it; keyword `hidden_sizes`/`lr` become overrides."""
    names = {"hidden_sizes": "model.hidden_sizes", "lr": "train.lr", "seed": "seed"}
    return {
        "job": n,
        "overrides": {names[k]: v for k, v in keys.items()},
        "status": status,
        "error": error,
        "val_accuracy": val,
        "test_accuracy": test,
        "train_accuracy": None,
        "final_cost": cost,
        "seconds": seconds,
        "run_id": None,
    }


def failed(n, error=DIVERGED, **keys):
    return job(n, status="FAILED", seconds=0.42, error=error, **keys)


@pytest.fixture
def three_jobs():
    return [
        job(0, val=0.88, test=0.87, cost=0.3, seconds=1.23, hidden_sizes="[10]", lr="0.1"),
        job(1, val=0.93, test=0.92, cost=0.14, seconds=1.8, hidden_sizes="[25]", lr="0.5"),
        failed(2, hidden_sizes="[25]", lr="5.0"),
    ]


def test_rank_puts_the_best_validation_accuracy_first_and_failures_last():
    records = [
        failed(0),
        job(1, val=0.80, cost=0.2),
        job(2, val=0.95, cost=0.3),
        failed(3),
        job(4, val=0.90, cost=0.1),
    ]
    assert [r["job"] for r in summary.rank(records)] == [2, 4, 1, 0, 3]


def test_rank_breaks_accuracy_ties_by_lower_final_cost_then_job_number():
    records = [
        job(0, val=0.9, cost=0.5),
        job(1, val=0.9, cost=0.2),
        job(2, val=0.9, cost=0.2),
        job(3, val=0.9, cost=0.1),
    ]
    assert [r["job"] for r in summary.rank(records)] == [3, 1, 2, 0]


def test_rank_leaves_its_input_in_order():
    records = [job(0, val=0.1, cost=1.0), job(1, val=0.9, cost=1.0)]
    summary.rank(records)
    assert [r["job"] for r in records] == [0, 1]


def test_swept_keys_are_those_whose_values_differ_in_first_seen_order():
    records = [
        job(0, lr="0.1", seed="0", hidden_sizes="[10]"),
        job(1, lr="0.1", seed="1", hidden_sizes="[25]"),
    ]
    assert summary.swept_keys(records) == ["seed", "model.hidden_sizes"]


def test_a_key_missing_from_some_jobs_counts_as_swept():
    assert summary.swept_keys([job(0, lr="0.1"), job(1)]) == ["train.lr"]


def test_table_rows_rank_finished_jobs_and_mark_failed_ones_with_a_dash(three_jobs):
    rows = summary.table_rows(three_jobs)
    assert list(rows[0]) == [
        "rank",
        "job",
        "model.hidden_sizes",
        "train.lr",
        "val_accuracy",
        "test_accuracy",
        "final_cost",
        "seconds",
        "status",
        "error",
    ]
    assert [(r["rank"], r["job"]) for r in rows] == [(1, 1), (2, 0), ("-", 2)]
    assert rows[2]["error"] == DIVERGED


def test_render_table_aligns_columns_and_closes_with_the_failures(three_jobs):
    expected = (
        "rank  job  model.hidden_sizes  train.lr  val_accuracy  test_accuracy  final_cost"
        "  seconds  status    error\n"
        "   1    1  [25]                0.5             0.9300         0.9200      0.1400"
        "      1.8  FINISHED\n"
        "   2    0  [10]                0.1             0.8800         0.8700      0.3000"
        "      1.2  FINISHED\n"
        "   -    2  [25]                5.0                  -              -           -"
        "      0.4  FAILED    training diverged: the cost became ...\n"
        "2 of 3 jobs finished; job 2 (model.hidden_sizes=[25] train.lr=5.0): " + DIVERGED
    )
    assert summary.render_table(three_jobs) == expected


def test_render_table_drops_the_error_column_when_every_job_finished(three_jobs):
    assert summary.render_table(three_jobs[:2]).splitlines() == [
        "rank  job  model.hidden_sizes  train.lr  val_accuracy  test_accuracy  final_cost"
        "  seconds  status",
        "   1    1  [25]                0.5             0.9300         0.9200      0.1400"
        "      1.8  FINISHED",
        "   2    0  [10]                0.1             0.8800         0.8700      0.3000"
        "      1.2  FINISHED",
        "all 2 jobs finished",
    ]


def test_the_outcome_line_names_each_failure_by_its_swept_values_on_aligned_lines():
    records = [
        job(0, val=0.9, cost=0.1, lr="0.5", seed="0"),
        failed(1, lr="5.0", seed="0"),
        failed(2, error="ValueError: bad\n  input", lr="9.0", seed="0"),
    ]
    assert summary.outcome_line(records) == (
        "1 of 3 jobs finished; job 1 (train.lr=5.0): " + DIVERGED + "\n"
        "                      job 2 (train.lr=9.0): ValueError: bad input"
    )


def test_the_outcome_line_shortens_long_errors():
    line = summary.outcome_line([failed(0, error="word " * 50)])
    assert line == "0 of 1 job finished; job 0: " + "word " * 18 + "word ..."  # 98 of 100


def test_the_outcome_line_counts_finished_jobs():
    assert summary.outcome_line([job(0, val=0.9), job(1, val=0.8)]) == "all 2 jobs finished"
    assert summary.outcome_line([job(0, val=0.9)]) == "1 job finished"


def test_write_csv_holds_the_table_rows_best_first(three_jobs, tmp_path):
    path = tmp_path / "out" / "summary.csv"
    summary.write_csv(three_jobs, path)
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["rank"], r["job"], r["train.lr"]) for r in rows] == [
        ("1", "1", "0.5"),
        ("2", "0", "0.1"),
        ("-", "2", "5.0"),
    ]
    assert rows[0]["val_accuracy"] == "0.93"
    assert rows[0]["error"] == ""
    assert rows[2]["val_accuracy"] == ""
    assert rows[2]["error"] == DIVERGED
    assert [p.name for p in path.parent.iterdir()] == ["summary.csv"]


def test_labels_use_the_swept_values_without_their_group_prefix():
    record = job(3, hidden_sizes="[25]", lr="0.5")
    assert summary.label(record, ["model.hidden_sizes", "train.lr"]) == "hidden_sizes=[25] lr=0.5"
    assert summary.label(record, []) == "job 3"


def test_costs_spanning_more_than_two_decades_get_a_log_axis():
    assert summary.use_log_scale([np.array([2.3, 0.5]), np.array([0.01])])
    assert not summary.use_log_scale([np.array([2.3, 0.5]), np.array([0.03])])
    assert not summary.use_log_scale([np.array([np.nan, 2.0, 0.0]), np.array([])])


def assert_png(path):
    assert path.read_bytes()[:8] == PNG
    assert min(matplotlib.image.imread(path).shape[:2]) > 0


def legend_labels(legend):
    return [text.get_text() for text in legend.get_texts()]


def test_cost_curves_draws_every_job_best_first_and_failed_ones_dashed(three_jobs, tmp_path):
    histories = {0: np.linspace(2.3, 0.3, 30), 1: np.geomspace(2.3, 0.01, 30), 2: [2.3, np.nan]}
    path = tmp_path / "plots" / "cost_curves.png"
    fig = summary.cost_curves(three_jobs, histories, path, title="Sweep test")
    assert_png(path)
    assert [p.name for p in path.parent.iterdir()] == ["cost_curves.png"]
    (ax,) = fig.axes
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == [
        "hidden_sizes=[25] lr=0.5",
        "hidden_sizes=[10] lr=0.1",
        "hidden_sizes=[25] lr=5.0 (failed)",
    ]
    assert [line.get_linestyle() for line in lines] == ["-", "-", "--"]
    np.testing.assert_array_equal(lines[0].get_ydata(), histories[1])
    assert legend_labels(ax.get_legend()) == [line.get_label() for line in lines]
    assert ax.get_yscale() == "log"  # 2.3 down to 0.01 spans more than two decades
    assert ax.get_title() == "Sweep test"


def test_cost_curves_of_jobs_without_history_is_an_empty_plot_without_a_legend(tmp_path):
    fig = summary.cost_curves([failed(0), failed(1)], {0: np.array([])}, tmp_path / "empty.png")
    assert_png(tmp_path / "empty.png")
    (ax,) = fig.axes
    assert ax.get_lines() == []
    assert ax.get_legend() is None and fig.legends == []


def test_cost_curves_keeps_a_legend_for_twenty_jobs_beside_the_axes(tmp_path):
    records = [job(n, val=n / 20, cost=1.0, lr=str(n / 10)) for n in range(20)]
    histories = {n: np.linspace(2.3, 0.1 + n / 20, 25) for n in range(20)}
    fig = summary.cost_curves(records, histories, tmp_path / "many.png")
    assert_png(tmp_path / "many.png")
    (ax,) = fig.axes
    assert ax.get_legend() is None  # not inside the axes, where 20 entries would hide the curves
    (legend,) = fig.legends
    assert legend_labels(legend) == [f"lr={n / 10}" for n in range(19, -1, -1)]  # best first
    colors = {line.get_color() for line in ax.get_lines()}
    assert len(colors) == 20  # tab20: no two jobs share a colour


def test_axis_values_sort_numbers_and_number_lists_numerically():
    records = [job(0, hidden_sizes="[100]", lr="0.1"), job(1, hidden_sizes="[10]", lr="1.0")]
    records += [job(2, hidden_sizes="[25]", lr="0.5"), job(3, hidden_sizes="[10,5]", lr="0.5")]
    assert summary.axis_values(records, "model.hidden_sizes") == ["[10]", "[10,5]", "[25]", "[100]"]
    assert summary.axis_values(records, "train.lr") == ["0.1", "0.5", "1.0"]


def test_axis_values_sort_words_as_strings_after_numbers():
    records = [job(0, seed="b"), job(1, seed="a"), job(2, seed="10"), job(3, seed="9")]
    assert summary.axis_values(records, "seed") == ["9", "10", "a", "b"]


def test_accuracy_grid_averages_repeats_and_leaves_failed_cells_nan():
    records = [
        job(0, val=0.8, hidden_sizes="[10]", lr="0.1"),
        job(1, val=0.9, hidden_sizes="[10]", lr="0.1"),
        failed(2, hidden_sizes="[10]", lr="1.0"),
        job(3, val=0.7, hidden_sizes="[5]", lr="1.0"),
    ]
    records.append(job(4, val=0.1, lr="0.1"))  # no hidden_sizes: in no cell
    rows, cols, grid = summary.accuracy_grid(records, "model.hidden_sizes", "train.lr")
    assert (rows, cols) == (["[5]", "[10]"], ["0.1", "1.0"])
    np.testing.assert_allclose(grid, [[np.nan, 0.7], [0.85, np.nan]])


def test_heatmap_needs_exactly_two_swept_keys(tmp_path):
    records = [job(0, val=0.8, lr="0.1"), job(1, val=0.9, lr="0.5")]
    assert summary.heatmap(records, tmp_path / "heatmap.png") is False
    assert list(tmp_path.iterdir()) == []


def test_heatmap_of_a_two_by_three_grid_is_a_png(tmp_path):
    records = [
        job(3 * i + j, val=0.5 + 0.1 * i + 0.05 * j, hidden_sizes=h, lr=lr)
        for i, h in enumerate(["[10]", "[25]"])
        for j, lr in enumerate(["0.1", "0.5", "1.0"])
    ]
    records[-1] = failed(5, hidden_sizes="[25]", lr="1.0")
    path = tmp_path / "plots" / "heatmap.png"
    assert summary.heatmap(records, path) is True
    assert_png(path)
