"""Time one training epoch of the 400-25-10 sigmoid network on the sample's 5000 rows.

    make bench          (or: .venv/bin/python benchmarks/epoch.py)

Each epoch is set against the time of its own matrix products, done alone into arrays allocated
once (what the machine's BLAS needs for the arithmetic: the floor), against the same epoch
written the straightforward NumPy way, and against scikit-learn's MLPClassifier on the same net,
data and batch (sgd, momentum 0, no L2); MLPClassifier has softmax outputs, so it is set against
digitnet's softmax net. Then the float32 path's accuracy is compared with float64's and with
MLPClassifier's after the same training. Needs the `bench` extra (scikit-learn). The arrays are
read straight from data/digits.xlsx (built first if missing); no pipeline output is needed.
"""

import warnings

import numpy as np
from _bench import bar, figure, interleaved, sample_arrays

from digitnet import nn
from digitnet.fit import fit

LAYERS = [400, 25, 10]
LR = 0.5
EPOCHS_PER_CALL = 20  # each timed call runs this many epochs
ROUNDS = 9
BAR_FULL_BATCH = 1.3  # float64 full-batch epoch / its matrix products, at most
BAR_FLOAT32 = 2.5  # scikit-learn float64 epoch / digitnet float32 epoch, at least
BAR_BATCH_256 = 2.3  # batch-256 epoch / its matrix products, at most
ANCHORS = {  # seconds per epoch, measured on this kind of machine
    "straightforward": 11.7e-3,
    "buffers": 7.3e-3,
    "float32": 3.2e-3,
    "products": 9e-3,  # 8-10 ms
    "sklearn": 12e-3,  # 11-13 ms
}


def digitnet_epochs(X, Y, batch_size, dtype, output="sigmoid", hidden=25, epochs=EPOCHS_PER_CALL):
    """`fit` for `epochs` epochs, continuing from where the last call stopped."""
    X, Y = X.astype(dtype), Y.astype(dtype)
    weights, biases = nn.init_params([400, hidden, 10], np.random.default_rng(0), dtype)
    rng = np.random.default_rng(0)
    return lambda: fit_net(weights, biases, X, Y, output, epochs, batch_size, rng)


def fit_net(weights, biases, X, Y, output, epochs, batch_size, rng):
    """`fit` the sigmoid-hidden net in place at this script's learning rate, without L2."""
    fit(
        weights,
        biases,
        X,
        Y,
        activation="sigmoid",
        output=output,
        lr=LR,
        epochs=epochs,
        batch_size=batch_size,
        l2=0.0,
        rng=rng,
    )


def products_alone(X, batch_size, dtype, hidden=25, epochs=EPOCHS_PER_CALL):
    """The five matrix products of each batch of an epoch, into arrays allocated once.

    Forward X·W1 and A1·W2; backward A1ᵀ·D2, D2·W2ᵀ and Xᵀ·D1. The batches are contiguous
    slices of X, so no gathering is timed either. Every array is in C order, as in `fit`.
    """
    X = X.astype(dtype)
    rows = len(X) if batch_size is None else batch_size
    batches = [X[start : start + rows] for start in range(0, len(X), rows)]
    rng = np.random.default_rng(0)
    (W1, W2), _ = nn.init_params([400, hidden, 10], rng, dtype)
    A1, H = np.empty((rows, hidden), dtype), np.empty((rows, 10), dtype)
    D1, D2 = rng.random((rows, hidden)).astype(dtype), rng.random((rows, 10)).astype(dtype)
    G1, G2 = np.empty_like(W1), np.empty_like(W2)

    def run():
        for _ in range(epochs):
            for X_batch in batches:
                n = len(X_batch)
                np.matmul(X_batch, W1, out=A1[:n])
                np.matmul(A1[:n], W2, out=H[:n])
                np.matmul(A1[:n].T, D2[:n], out=G2)
                np.matmul(D2[:n], W2.T, out=D1[:n])
                np.matmul(X_batch.T, D1[:n], out=G1)

    return run


def straightforward_epochs(X, Y):
    """Full-batch gradient descent as the textbook writes it: a new array for every step."""
    rng = np.random.default_rng(0)
    (W1, W2), (b1, b2) = nn.init_params(LAYERS, rng)
    m = len(X)

    def run():
        nonlocal W1, W2, b1, b2
        for _ in range(EPOCHS_PER_CALL):
            A1 = 1.0 / (1.0 + np.exp(-(X @ W1 + b1)))
            H = 1.0 / (1.0 + np.exp(-(A1 @ W2 + b2)))
            H = np.clip(H, 1e-15, 1 - 1e-15)
            _cost = -np.sum(Y * np.log(H) + (1 - Y) * np.log(1 - H)) / m
            D2 = (H - Y) / m
            D1 = (D2 @ W2.T) * A1 * (1 - A1)
            W2 = W2 - LR * (A1.T @ D2)
            b2 = b2 - LR * D2.sum(axis=0)
            W1 = W1 - LR * (X.T @ D1)
            b1 = b1 - LR * D1.sum(axis=0)

    return run


def sklearn_model(batch_size, epochs, n_rows):
    from sklearn.neural_network import MLPClassifier

    return MLPClassifier(
        hidden_layer_sizes=(25,),
        activation="logistic",
        solver="sgd",
        learning_rate_init=LR,
        momentum=0.0,
        nesterovs_momentum=False,
        alpha=0.0,
        batch_size=batch_size or n_rows,
        shuffle=batch_size is not None,
        max_iter=epochs,
        tol=0.0,
        n_iter_no_change=10**9,
        warm_start=True,
        random_state=0,
    )


def sklearn_fit(model, X, classes):
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, classes)


def sklearn_epochs(X, classes, batch_size):
    """MLPClassifier, warm-started so that each call runs EPOCHS_PER_CALL more epochs."""
    model = sklearn_model(batch_size, EPOCHS_PER_CALL, len(X))
    return lambda: sklearn_fit(model, X, classes)


def timed(candidates):
    """Per-epoch medians, after one untimed round that warms caches and BLAS threads."""
    interleaved(candidates, 1)
    return interleaved(candidates, ROUNDS, per_call=EPOCHS_PER_CALL)


def full_batch(X, Y, classes):
    print(f"Full batch, {len(X)} rows, 400-25-10 sigmoid, one epoch (median of {ROUNDS} rounds):")
    t = timed(
        {
            "straightforward": straightforward_epochs(X, Y),
            "digitnet": digitnet_epochs(X, Y, None, np.float64),
            "digitnet softmax": digitnet_epochs(X, Y, None, np.float64, "softmax"),
            "products": products_alone(X, None, np.float64),
            "float32": digitnet_epochs(X, Y, None, np.float32),
            "float32 softmax": digitnet_epochs(X, Y, None, np.float32, "softmax"),
            "products float32": products_alone(X, None, np.float32),
            "sklearn": sklearn_epochs(X, classes, None),
        }
    )
    figure("straightforward NumPy, float64", t["straightforward"], ANCHORS["straightforward"])
    figure("digitnet fit, float64 (sigmoid outputs)", t["digitnet"], ANCHORS["buffers"])
    figure("digitnet fit, float64, softmax outputs", t["digitnet softmax"])
    figure("its matrix products alone, float64", t["products"], ANCHORS["products"])
    figure("scikit-learn MLPClassifier, float64", t["sklearn"], ANCHORS["sklearn"])
    figure("digitnet fit, float32", t["float32"], ANCHORS["float32"])
    figure("digitnet fit, float32, softmax outputs", t["float32 softmax"])
    figure("its matrix products alone, float32", t["products float32"])
    bar("float64 epoch / its matrix products", t["digitnet"] / t["products"], BAR_FULL_BATCH)
    print(f"  float32 epoch / its matrix products: {t['float32'] / t['products float32']:.2f}")
    # scikit-learn's MLPClassifier has softmax outputs: digitnet's softmax net is the same net
    same = t["digitnet softmax"]
    bar("scikit-learn / digitnet, float64, softmax", t["sklearn"] / same, 1.3, at_least=True)
    same32 = t["float32 softmax"]
    ratio = t["sklearn"] / same32
    bar("scikit-learn float64 / digitnet float32, softmax", ratio, BAR_FLOAT32, at_least=True)
    print(
        "  sigmoid outputs: scikit-learn / digitnet, float64 "
        f"{t['sklearn'] / t['digitnet']:.2f}, float32 {t['sklearn'] / t['float32']:.2f}"
    )
    print(f"  straightforward NumPy / digitnet: {t['straightforward'] / t['digitnet']:.2f}")


def mini_batch(X, Y, classes, batch_size=256):
    print(f"Mini-batches of {batch_size}, shuffled every epoch, one epoch:")
    t = timed(
        {
            "digitnet": digitnet_epochs(X, Y, batch_size, np.float64),
            "products": products_alone(X, batch_size, np.float64),
            "sklearn": sklearn_epochs(X, classes, batch_size),
        }
    )
    figure(f"digitnet fit, float64, batch {batch_size}", t["digitnet"])
    figure("its matrix products alone", t["products"])
    figure(f"scikit-learn MLPClassifier, batch {batch_size}", t["sklearn"])
    ratio = t["digitnet"] / t["products"]
    bar(f"batch-{batch_size} epoch / its matrix products", ratio, BAR_BATCH_256)
    print(f"  scikit-learn / digitnet: {t['sklearn'] / t['digitnet']:.2f}")


def accuracy(X, Y, classes, epochs=300, seeds=(0, 1, 2)):
    """Mean test accuracy over `seeds` after `epochs` full-batch epochs on 4000 rows, tested on
    the other 1000. digitnet with sigmoid outputs in both dtypes, and with softmax outputs, the
    net MLPClassifier trains, beside MLPClassifier itself with the same seeds for its weights.
    """
    order = np.random.default_rng(0).permutation(len(X))
    train, test = order[:4000], order[4000:]
    scores = {}
    for output in ("sigmoid", "softmax"):
        for dtype in (np.float64, np.float32):
            runs = []
            for seed in seeds:
                weights, biases = nn.init_params(LAYERS, np.random.default_rng(seed), dtype)
                X_train, Y_train = X[train].astype(dtype), Y[train].astype(dtype)
                rng = np.random.default_rng(0)
                fit_net(weights, biases, X_train, Y_train, output, epochs, None, rng)
                predicted = nn.predict(X[test].astype(dtype), weights, biases, "sigmoid", output)
                runs.append(np.mean(predicted == classes[test]))
            scores[output, np.dtype(dtype).name] = np.mean(runs)
    runs = []
    for seed in seeds:
        model = sklearn_model(None, epochs, len(train))
        model.set_params(random_state=seed)
        sklearn_fit(model, X[train], classes[train])
        runs.append(np.mean(model.predict(X[test]) == classes[test]))
    scores["sklearn"] = np.mean(runs)
    print(
        f"Test accuracy after {epochs} full-batch epochs (4000 rows to train, 1000 to test), "
        f"mean of seeds {', '.join(map(str, seeds))}:"
    )
    for (output, dtype), score in ((key, scores[key]) for key in scores if key != "sklearn"):
        print(f"  {f'digitnet {dtype}, {output} outputs':58s} {score:10.4f}")
    print(
        f"  {'scikit-learn MLPClassifier, float64 (softmax outputs)':58s} {scores['sklearn']:10.4f}"
    )
    points = abs(scores["sigmoid", "float32"] - scores["sigmoid", "float64"]) * 100
    bar("|float32 - float64| accuracy, sigmoid outputs, points", points, 0.5)
    points = abs(scores["softmax", "float32"] - scores["sklearn"]) * 100
    bar("|float32 - scikit-learn| accuracy, softmax outputs, points", points, 0.5)


def main():
    X, Y, classes = sample_arrays()
    full_batch(X, Y, classes)
    mini_batch(X, Y, classes)
    accuracy(X, Y, classes)


if __name__ == "__main__":
    main()
