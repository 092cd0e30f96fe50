"""The end of a sweep: its jobs ranked in a table, a CSV, their cost curves and a heatmap.

Everything works on job records, one dict per Hydra job as `digitnet.sweep` writes them:
`job`, `overrides` (swept key -> value as typed), `status` ("FINISHED" or "FAILED"), `error`,
`val_accuracy`, `test_accuracy`, `final_cost` and `seconds`. Values that are None (a failed job
has no accuracy) print as "-" and are left empty in the CSV.
"""

import csv
import io
import math
import textwrap

import numpy as np

from digitnet.artifacts import write_text
from digitnet.plots import plt, save_figure

SCORES = ("val_accuracy", "test_accuracy", "final_cost")
NUMERIC = {"rank", "job", *SCORES, "seconds"}  # right-aligned in the console table
MANY_CURVES = 8  # beyond this the legend moves outside the axes


def rank(records):
    """Best first: finished jobs by validation accuracy, then lower final cost; failed jobs last."""
    finished = [r for r in records if r["status"] == "FINISHED"]
    failed = [r for r in records if r["status"] != "FINISHED"]
    finished.sort(
        key=lambda r: (-_num(r["val_accuracy"], -math.inf), _num(r["final_cost"]), r["job"])
    )
    return finished + sorted(failed, key=lambda r: r["job"])


def _num(value, missing=math.inf):
    return missing if value is None else value


def swept_keys(records):
    """The override keys that tell the jobs apart; keys with one value for all are noise."""
    keys = list(dict.fromkeys(k for r in records for k in r["overrides"]))
    return [k for k in keys if len({r["overrides"].get(k) for r in records}) > 1]


def table_rows(records):
    """One dict per job, best first, with its columns in display order."""
    keys = swept_keys(records)
    rows = []
    for i, r in enumerate(rank(records), start=1):
        row = {"rank": i if r["status"] == "FINISHED" else "-", "job": r["job"]}
        row.update({k: r["overrides"].get(k, "") for k in keys})
        row.update({k: r.get(k) for k in (*SCORES, "seconds", "status", "error")})
        rows.append(row)
    return rows


def _cell(column, value):
    if value is None:
        return "-" if column in NUMERIC else ""
    if column in SCORES:
        return f"{value:.4f}"
    if column == "seconds":
        return f"{value:.1f}"
    if column == "error":
        return _shorten(value, 40)
    return str(value)


def _shorten(text, width):
    return textwrap.shorten(str(text), width, placeholder=" ...")


def render_table(records):
    """The console summary: an aligned table, best first, and a closing line on failures."""
    rows = table_rows(records)
    columns = list(rows[0]) if rows else []
    if all(row["status"] == "FINISHED" for row in rows) and "error" in columns:
        columns.remove("error")  # an empty column only widens the table
    cells = [columns] + [[_cell(c, row[c]) for c in columns] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    lines = [
        "  ".join(
            text.rjust(width) if column in NUMERIC else text.ljust(width)
            for column, text, width in zip(columns, line, widths, strict=True)
        ).rstrip()
        for line in cells
    ]
    return "\n".join([*lines, outcome_line(records)])


def outcome_line(records):
    """'all N jobs finished', or 'K of N jobs finished; ' and each failure on its own aligned
    line, e.g. 'job 3 (train.lr=0.3): died (SIGKILL)'."""
    failed = [r for r in records if r["status"] != "FINISHED"]
    n = len(records)
    if not failed:
        return f"all {n} jobs finished" if n != 1 else "1 job finished"
    keys = swept_keys(records)
    head = f"{n - len(failed)} of {n} job{'s' if n != 1 else ''} finished; "
    reasons = [f"job {r['job']}{_setting(r, keys)}: {_shorten(r['error'], 100)}" for r in failed]
    return head + ("\n" + " " * len(head)).join(reasons)


def _setting(record, keys):
    pairs = " ".join(f"{k}={record['overrides'][k]}" for k in keys if k in record["overrides"])
    return f" ({pairs})" if pairs else ""


def write_csv(records, path):
    buffer = io.StringIO()
    rows = table_rows(records)
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else [], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text(path, buffer.getvalue())


def label(record, keys):
    """A legend label from the swept values, group prefixes dropped: 'hidden_sizes=[25] lr=0.5'."""
    overrides = record["overrides"]
    pairs = [f"{k.rsplit('.', 1)[-1]}={overrides[k]}" for k in keys if k in overrides]
    return " ".join(pairs) or f"job {record['job']}"


def use_log_scale(histories):
    """True when the positive finite costs span more than two decades (a linear axis hides them)."""
    values = np.concatenate([np.asarray(h, dtype=float).ravel() for h in histories] or [[]])
    values = values[np.isfinite(values) & (values > 0)]
    return values.size > 0 and values.max() / values.min() > 100


def cost_curves(records, histories, path, title="Cost per epoch"):
    """Every job's cost history in one figure, best job first in the legend; failed ones dashed.

    Returns the figure saved. Beyond MANY_CURVES jobs the legend moves out beside the axes.
    """
    keys = swept_keys(records)
    curves = [(r, np.asarray(histories.get(r["job"], []), dtype=float)) for r in rank(records)]
    curves = [(r, h) for r, h in curves if h.size]
    many = len(curves) > MANY_CURVES
    fig, ax = plt.subplots(figsize=(9 if many else 7, 4.5), layout="constrained")
    colors = plt.get_cmap("tab20" if len(curves) > 10 else "tab10").colors
    for i, (r, h) in enumerate(curves):
        failed = r["status"] != "FINISHED"
        ax.plot(
            np.arange(1, h.size + 1),
            h,
            color=colors[i % len(colors)],
            linestyle="--" if failed else "-",
            label=label(r, keys) + (" (failed)" if failed else ""),
        )
    if use_log_scale([h for _, h in curves]):
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("cost (cross-entropy)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if many:
        fig.legend(loc="outside right upper", fontsize=7)
    elif curves:
        ax.legend(fontsize=8)
    return save_figure(fig, path)


def axis_values(records, key):
    """The distinct values of `key`, in numeric order when they read as numbers or number lists."""
    return sorted({r["overrides"][key] for r in records if key in r["overrides"]}, key=_order)


def _order(value):
    text = value.strip()
    try:
        return (0, (float(text),), "")
    except ValueError:
        pass
    if text.startswith("[") and text.endswith("]"):
        try:
            return (0, tuple(float(p) for p in text[1:-1].split(",") if p.strip()), "")
        except ValueError:
            pass
    return (1, (), text)


def accuracy_grid(records, row_key, col_key):
    """Mean validation accuracy per cell, shape (n_rows, n_cols); NaN where no job finished."""
    rows, cols = axis_values(records, row_key), axis_values(records, col_key)
    scores = [[[] for _ in cols] for _ in rows]
    for r in records:
        cell = r["overrides"].get(row_key), r["overrides"].get(col_key)
        if r["status"] == "FINISHED" and r["val_accuracy"] is not None and None not in cell:
            scores[rows.index(cell[0])][cols.index(cell[1])].append(r["val_accuracy"])
    grid = np.array([[np.mean(s) if s else np.nan for s in line] for line in scores])
    return rows, cols, grid.reshape(len(rows), len(cols))


def heatmap(records, path, title="Validation accuracy"):
    """A heatmap of validation accuracy over the two swept keys; False (no file) unless two."""
    keys = swept_keys(records)
    if len(keys) != 2:
        return False
    rows, cols, grid = accuracy_grid(records, *keys)
    fig, ax = plt.subplots(
        figsize=(min(3 + 1.1 * len(cols), 14), min(2 + 0.6 * len(rows), 10)), layout="constrained"
    )
    cmap = plt.get_cmap("viridis").with_extremes(bad="lightgrey")
    image = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, aspect="auto")
    for (i, j), value in np.ndenumerate(grid):
        dark = not np.isnan(value) and image.norm(value) < 0.5
        text = "failed" if np.isnan(value) else f"{value:.4f}"
        ax.text(
            j, i, text, ha="center", va="center", fontsize=8, color="white" if dark else "black"
        )
    ax.set_xticks(range(len(cols)), cols)
    ax.set_yticks(range(len(rows)), rows)
    ax.set_xlabel(keys[1])
    ax.set_ylabel(keys[0])
    ax.set_title(title)
    fig.colorbar(image, ax=ax, label="validation accuracy")
    save_figure(fig, path)
    return True
