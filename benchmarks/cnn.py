"""Time one training epoch of conf/model/cnn.yaml's network against PyTorch CPU, and (with
--accuracy) its test accuracy over three seeds.

    make bench          (or: .venv/bin/python benchmarks/cnn.py [--accuracy])

The net is experiment=cnn's, as conf/ has it (conv 5x5x32, valid → ReLU → 2x2 max-pooling →
dense softmax), on the rows an epoch of that preset sees (3,500 training digits and their four
one-pixel shifts, 17,500 rows, standardised), with its optimiser (Adam), batch and dtype.
PyTorch trains the same layers with the same batch, dtype and optimiser, shuffling as digitnet
does. digitnet runs with one BLAS thread, as training runs a convolutional network; PyTorch with
two threads and with one (set_num_threads). They are timed in turns, the median of ROUNDS.
Needs the `bench` extra (PyTorch 2.13 CPU); without PyTorch, digitnet's figure is still printed.

--accuracy runs `python -m digitnet.train experiment=cnn seed=N tracking.enabled=false` for
seeds 0-2, as a user does, and prints each seed's test accuracy and seconds.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _bench import ROOT, bar, figure, interleaved, sample_arrays
from threadpoolctl import threadpool_limits

from digitnet import convnet
from digitnet.augment import shifted
from digitnet.cli import load_config
from digitnet.fit import fit_net
from digitnet.optim import Adam

PRESET = load_config(["experiment=cnn", "tracking.enabled=false"])
MODEL, TRAIN = PRESET.model, PRESET.train
BATCH, LR, DTYPE = TRAIN.batch_size, TRAIN.lr, np.dtype(TRAIN.dtype)
ROUNDS = 3
BAR_TORCH = 3.0  # digitnet epoch / PyTorch epoch, at most, at the same number of threads
N_TRAIN = 3500  # the training split of the sample with the default fractions


def epoch_rows():
    """(X, Y): N_TRAIN sample digits and their shifts, standardised, float32."""
    X, Y, _ = sample_arrays()
    rows = np.random.default_rng(0).permutation(len(X))[:N_TRAIN]
    X, Y = shifted(X[rows]), np.tile(Y[rows], (5, 1))
    X = (X - X.mean(axis=0)) / np.where(X.std(axis=0) > 0, X.std(axis=0), 1.0)
    return X.astype(DTYPE), Y.astype(DTYPE)


def digitnet_epoch(X, Y):
    """One epoch of fit_net per call, continuing from the last."""
    rng = np.random.default_rng(0)
    weights, biases = convnet.init_params(
        20, MODEL.filters, MODEL.kernel_sizes, MODEL.hidden_sizes, 10, rng, dtype=DTYPE,
        padding=MODEL.padding, pool=MODEL.pool, init=MODEL.init,
    )  # fmt: skip
    net = convnet.ConvNet(weights, biases, "relu", "softmax", MODEL.padding, MODEL.pool, 20)
    optimizer = Adam()
    return lambda: fit_net(
        net, X, Y, lr=LR, epochs=1, batch_size=BATCH, l2=0.0, rng=rng, optimizer=optimizer
    )


def torch_epoch(torch, X, Y):
    """One epoch of the same layers in PyTorch per call, on images in its (n, 1, 20, 20)."""
    torch.manual_seed(0)
    images = torch.from_numpy(X.reshape(-1, 1, 20, 20).transpose(0, 1, 3, 2).copy())
    classes = torch.from_numpy(Y.argmax(axis=1))
    layers, channels, side = [], 1, 20
    for filters, kernel in zip(MODEL.filters, MODEL.kernel_sizes, strict=True):
        padding = kernel // 2 if MODEL.padding == "same" else 0
        layers += [torch.nn.Conv2d(channels, filters, kernel, padding=padding), torch.nn.ReLU()]
        layers += [torch.nn.MaxPool2d(MODEL.pool)]
        channels, side = filters, convnet.conv_map_side(side, kernel, MODEL.padding, MODEL.pool)
    layers.append(torch.nn.Flatten())
    fan_in = channels * side * side
    for size in MODEL.hidden_sizes:
        layers += [torch.nn.Linear(fan_in, size), torch.nn.ReLU()]
        fan_in = size
    model = torch.nn.Sequential(*layers, torch.nn.Linear(fan_in, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    loss = torch.nn.CrossEntropyLoss()
    rng = np.random.default_rng(0)

    def run():
        order = torch.from_numpy(rng.permutation(len(images)))
        for start in range(0, len(images), BATCH):
            rows = order[start : start + BATCH]
            optimizer.zero_grad()
            loss(model(images[rows]), classes[rows]).backward()
            optimizer.step()

    return run


def one_blas_thread(work):
    """`work` with one BLAS thread, as training runs a convolutional network."""

    def run():
        with threadpool_limits(limits=1, user_api="blas"):
            work()

    return run


def torch_threads(torch, threads, work):
    def run():
        torch.set_num_threads(threads)
        work()

    return run


def epochs():
    X, Y = epoch_rows()
    try:
        import torch
    except ImportError:
        torch = None
        print("PyTorch is not installed: pip install torch==2.13.0 (the bench extra)")
    candidates = {"digitnet (one BLAS thread, as it trains)": one_blas_thread(digitnet_epoch(X, Y))}
    for threads in (2, 1) if torch is not None else ():
        candidates[f"PyTorch {torch.__version__}, {threads} thread(s)"] = torch_threads(
            torch, threads, torch_epoch(torch, X, Y)
        )
    net = "-".join(f"conv{k}x{f}" for f, k in zip(MODEL.filters, MODEL.kernel_sizes, strict=True))
    print(f"One epoch of {net}: {len(X)} rows, batches of {BATCH}, {DTYPE}, Adam")
    seconds = interleaved(candidates, ROUNDS)
    for name, value in seconds.items():
        figure(name, value)
    if torch is None:
        return
    ours, *theirs = seconds.values()
    bar("digitnet epoch / PyTorch's faster epoch", ours / min(theirs), BAR_TORCH)


def accuracy(seeds=(0, 1, 2)):
    """Each seed's test accuracy and seconds, as `python -m digitnet.train experiment=cnn`."""
    print("experiment=cnn, as a user runs it:")
    for seed in seeds:
        with tempfile.TemporaryDirectory() as out:
            command = [sys.executable, "-m", "digitnet.train", "experiment=cnn", f"seed={seed}"]
            command += ["tracking.enabled=false", f"hydra.run.dir={out}"]
            started = time.perf_counter()
            subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
            seconds = time.perf_counter() - started
            metrics = json.loads((Path(out) / "eval" / "metrics.json").read_text())
        print(f"  seed {seed}: test accuracy {metrics['test_accuracy']:.3f} in {seconds:.1f} s")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accuracy", action="store_true", help="also train seeds 0-2")
    args = parser.parse_args()
    epochs()
    if args.accuracy:
        accuracy()


if __name__ == "__main__":
    main()
