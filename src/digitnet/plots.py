"""Figures as PNG files: the cost curve and the confusion matrix."""

import matplotlib

matplotlib.use("Agg")  # files only, never a window
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from digitnet.artifacts import atomic_path  # noqa: E402


def save_figure(fig, path):
    """Write `fig` as a PNG, whole or not at all, and free it, also if writing fails."""
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=100)
    finally:
        plt.close(fig)


def cost_curve(costs, path, title="Training cost"):
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(np.arange(1, len(costs) + 1), costs)
    ax.set_xlabel("epoch")
    ax.set_ylabel("cost (cross-entropy)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path)


def confusion(counts, path, title="Confusion matrix (test)"):
    n_classes = counts.shape[0]
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.imshow(counts, cmap="Blues")
    for (i, j), n in np.ndenumerate(counts):
        color = "white" if n > counts.max() / 2 else "black"
        ax.text(j, i, str(n), ha="center", va="center", fontsize=8, color=color)
    ax.set_xticks(range(n_classes))
    ax.set_yticks(range(n_classes))
    ax.set_xlabel("predicted digit")
    ax.set_ylabel("true digit")
    ax.set_title(title)
    fig.tight_layout()
    save_figure(fig, path)
