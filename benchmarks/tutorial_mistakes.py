"""What each of the original tutorial's mistakes costs, measured on the pipeline's own split.

    python benchmarks/tutorial_mistakes.py      # after `make run`; about 10 s

The tutorial this project grew from made four mistakes. Each is put back here on purpose, one at
a time, into a short training loop built from digitnet's public functions (nn.init_params,
nn.forward, nn.cost, nn.backward, optim.SGD, metrics.accuracy), and the run is scored two ways:
by the argmax of the outputs (right) and by the tutorial's own accuracy (an example counts as
right when any of its ten outputs is >= 0.5). The mistakes, as reintroduced:

- update: the weights are overwritten with the gradient, `W = grad`, instead of `W -= lr * grad`;
- sigmoid: 0.00001 is subtracted from every sigmoid output, to keep log(h) away from log(0);
- init: weights drawn in ±6**1/2, which Python reads as (6**1)/2 = 3, instead of
  ±sqrt(6 / (fan_in + fan_out)), 0.119 for 400 → 25;
- accuracy: the >= 0.5 count above, reported for every run beside the argmax.

The loop reproduces digitnet's own training (the same draws from one seeded generator, the same
batch order), so the correct runs equal `experiment=tutorial` and the default settings.
The figures are written to docs/measured/tutorial_mistakes.json, which tests/test_docs.py holds
docs/how-the-network-learns.md to.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

# One BLAS thread, set before NumPy loads: on 64-row batches two threads spend longer waiting
# on each other than multiplying, most of all on a busy machine.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from digitnet import nn  # noqa: E402
from digitnet.metrics import accuracy  # noqa: E402
from digitnet.optim import SGD  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PROCESSED = ROOT / "artifacts" / "processed"
RECORD = ROOT / "docs" / "measured" / "tutorial_mistakes.json"

DEFAULT = {"lr": 0.5, "epochs": 100, "batch_size": 64}  # conf/train/gd.yaml
TUTORIAL = {"lr": 0.003, "epochs": 20, "batch_size": None}  # conf/experiment/tutorial.yaml
SHIFT = 0.00001  # what the tutorial's sigmoid subtracted
TUTORIAL_LIMIT = 6**1 / 2  # the tutorial's 6**1/2: 3.0, not sqrt(6)

RUNS = {  # name: (settings, mistakes)
    "default": (DEFAULT, ()),
    "default+update": (DEFAULT, ("update",)),
    "default+sigmoid": (DEFAULT, ("sigmoid",)),
    "default+init": (DEFAULT, ("init",)),
    "tutorial": (TUTORIAL, ()),
    "tutorial+all": (TUTORIAL, ("update", "sigmoid", "init")),
}


def load_split(name):
    path = PROCESSED / f"{name}.npz"
    if not path.is_file():
        sys.exit(f"error: {path.relative_to(ROOT)} is missing; run `make run` first")
    with np.load(path, allow_pickle=False) as arrays:
        return arrays["X"], arrays["Y"], arrays["classes"]


def init(layer_sizes, rng, mistakes):
    """digitnet's Glorot draw, or the same uniform draws stretched to ±3."""
    weights, biases = nn.init_params(layer_sizes, rng)
    if "init" in mistakes:
        for W in weights:
            fan_in, fan_out = W.shape
            W *= TUTORIAL_LIMIT / np.sqrt(6.0 / (fan_in + fan_out))
    return weights, biases


def forward(X, weights, biases, mistakes):
    """nn.forward one layer at a time, each output less SHIFT with the sigmoid mistake."""
    shift = SHIFT if "sigmoid" in mistakes else 0.0
    activations = [X]
    for W, b in zip(weights, biases, strict=True):
        activations.append(nn.forward(activations[-1], [W], [b])[-1] - shift)
    return activations


def tutorial_cost(H, Y):
    """Ng's cost with no clipping, as the tutorial computed it: NaN once some h < 0."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(-np.sum(Y * np.log(H) + (1 - Y) * np.log(1 - H)) / len(Y))


def saturated(A):
    """Share of the activations within 0.01 of 0 or 1, where the sigmoid's slope a(1 - a) < 0.01."""
    return float(np.mean((A < 0.01) | (A > 0.99)))


def train(X, Y, settings, mistakes, seed=0):
    """Weights, biases, the (clipped) cost and the tutorial's cost per epoch, and the share of
    hidden activations saturated before the first step."""
    rng = np.random.default_rng(seed)
    weights, biases = init([X.shape[1], 25, Y.shape[1]], rng, mistakes)
    saturated_at_start = saturated(forward(X, weights, biases, mistakes)[1])
    n, size = len(X), settings["batch_size"] or len(X)
    costs, tutorial_costs = [], []
    for _ in range(settings["epochs"]):
        order = np.arange(n) if size >= n else rng.permutation(n)
        total = tutorial_total = 0.0
        for start in range(0, n, size):
            rows = order[start : start + size]
            activations = forward(X[rows], weights, biases, mistakes)
            total += nn.cost(activations[-1], Y[rows], weights) * len(rows)
            tutorial_total += tutorial_cost(activations[-1], Y[rows]) * len(rows)
            grads_W, grads_b = nn.backward(activations, Y[rows], weights)
            if "update" in mistakes:
                for p, g in zip(weights + biases, grads_W + grads_b, strict=True):
                    p[...] = g  # the mistake: the step replaces the weights
            else:
                SGD().step(weights + biases, grads_W + grads_b, settings["lr"])
        costs.append(total / n)
        tutorial_costs.append(tutorial_total / n)
    return weights, biases, costs, tutorial_costs, saturated_at_start


def score(name, train_split, test_split):
    """What one run scores on the test split, and how its costs went (NaN recorded as null)."""
    settings, mistakes = RUNS[name]
    started = time.perf_counter()
    weights, biases, costs, tutorial_costs, saturated_at_start = train(
        *train_split[:2], settings, mistakes
    )
    H = forward(test_split[0], weights, biases, mistakes)[-1]
    predicted = np.argmax(H, axis=1)
    nan = [i + 1 for i, cost in enumerate(tutorial_costs) if np.isnan(cost)]
    return {
        "settings": settings,
        "mistakes": list(mistakes),
        "test_accuracy": accuracy(test_split[2], predicted),
        "tutorial_accuracy": float(np.mean((H >= 0.5).any(axis=1))),
        "top_prediction_share": float(np.bincount(predicted).max() / len(predicted)),
        "saturated_at_start": saturated_at_start,
        "first_cost": costs[0],
        "final_cost": costs[-1],
        "tutorial_costs_first_epochs": [None if np.isnan(c) else c for c in tutorial_costs[:5]],
        "tutorial_final_cost": None if np.isnan(tutorial_costs[-1]) else tutorial_costs[-1],
        "tutorial_cost_nan": {"first_epoch": nan[0], "epochs": len(nan)} if nan else None,
        "seconds": round(time.perf_counter() - started, 2),
    }


def commit():
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True
        )
        return out.stdout.strip() or None
    except OSError:
        return None


def main():
    train_split, test_split = load_split("train"), load_split("test")
    results = {}
    print(f"{'run':16s} {'accuracy':>8s} {'>= 0.5':>7s} {'cost':>18s} {'tutorial cost':>14s}")
    for name in RUNS:
        r = results[name] = score(name, train_split, test_split)
        nan, last = r["tutorial_cost_nan"], r["tutorial_final_cost"]
        print(
            f"{name:16s} {r['test_accuracy']:8.3f} {r['tutorial_accuracy']:7.3f} "
            f"{r['first_cost']:8.4f} → {r['final_cost']:8.4f} {last or float('nan'):14.4f}"
            + (f"  (nan in {nan['epochs']}, from epoch {nan['first_epoch']})" if nan else "")
        )
    RECORD.parent.mkdir(parents=True, exist_ok=True)
    record = {"commit": commit(), "split": "artifacts/processed (seed 0)", "runs": results}
    RECORD.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {RECORD.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
