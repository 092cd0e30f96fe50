"""The processed arrays: labels → classes → one-hot, a stratified seeded split, a fitted scaler.

X is kept as raw pixels in every split. The scaler is fitted here, on the training rows only,
and saved beside the splits; the network carries it and scales its own input (see network.py),
so there is exactly one place where pixels are scaled.
"""

import numpy as np

from digitnet import preprocess
from digitnet.artifacts import atomic_dir, load_npz, save_json, save_npz
from digitnet.errors import DigitnetError

SPLITS = ("train", "val", "test")


def make_splits(
    *, ingested, out, n_classes, val_fraction, test_fraction, scaling, seed, keep_existing=False
):
    """Write <out>/{train,val,test}.npz (raw X, one-hot Y, classes), scaler.npz and meta.json.

    meta.json records what the arrays were made from: the ingested arrays' identity (the
    workbook's MD5 and the settings that read it) and the split settings. With keep_existing,
    arrays that another process put at `out` meanwhile stay (they are the same by content).
    """
    data = load_npz(ingested)
    classes = preprocess.labels_to_classes(data["y"], n_classes)
    rng = np.random.default_rng(seed)
    parts = preprocess.stratified_split(classes, val_fraction, test_fraction, rng)
    _check_sizes(ingested, len(classes), parts, val_fraction, test_fraction)
    shift, scale = preprocess.fit_scaler(data["X"][parts[0]], scaling)
    settings = {
        "n_classes": n_classes,
        "val_fraction": val_fraction,
        "test_fraction": test_fraction,
        "scaling": scaling,
        "seed": seed,
    }
    with atomic_dir(out, keep_existing=keep_existing) as tmp:
        for name, rows in zip(SPLITS, parts, strict=True):
            save_npz(
                tmp / f"{name}.npz",
                X=data["X"][rows],
                Y=preprocess.one_hot(classes[rows], n_classes),
                classes=classes[rows],
            )
        save_npz(tmp / "scaler.npz", shift=shift, scale=scale)
        sizes = {name: len(rows) for name, rows in zip(SPLITS, parts, strict=True)}
        save_json(
            tmp / "meta.json",
            made_from(data) | {"sizes": sizes} | settings,
        )
    described = ", ".join(f"{name} {size}" for name, size in sizes.items())
    print(
        f"preprocess: {ingested} → {out}: {described} (stratified, seed {seed}, scaling {scaling})"
    )
    return parts


def _check_sizes(ingested, n_examples, parts, val_fraction, test_fraction):
    """Refuse a split left empty by too few examples (an empty validation split is asked for
    by val_fraction = 0); the test split is named first, as the one every run needs."""
    for name, rows in sorted(zip(SPLITS, parts, strict=True), key=lambda p: p[0] != "test"):
        if len(rows) == 0 and (name != "val" or val_fraction > 0):
            raise DigitnetError(
                f"{ingested}: {n_examples} examples are too few for val_fraction="
                f"{val_fraction} and test_fraction={test_fraction}: the {name} split is empty"
            )


def made_from(ingested):
    """What the ingested arrays record of their making (every array beside X and y: the
    workbook's MD5 and the settings that read it), as plain values."""
    return {key: value.item() for key, value in ingested.items() if key not in ("X", "y")}


def split_settings(config):
    """The settings the processed arrays depend on, as recorded in their meta.json."""
    return {
        "n_classes": config.data.n_classes,
        "val_fraction": config.data.val_fraction,
        "test_fraction": config.data.test_fraction,
        "scaling": config.data.scaling,
        "seed": config.seed,
    }


def from_config(config, ingested=None, out=None, keep_existing=False):
    """`make_splits` as `config` says, from `ingested` into `out` (default: the pipeline's
    paths.ingested and paths.processed)."""
    return make_splits(
        ingested=ingested or config.paths.ingested,
        out=out or config.paths.processed,
        keep_existing=keep_existing,
        **split_settings(config),
    )
