"""Stage 2: labels → classes → one-hot, a stratified seeded split, and input scaling."""

import numpy as np

from digitnet import cli, preprocess
from digitnet.artifacts import atomic_dir, load_npz, save_json, save_npz
from digitnet.errors import DigitnetError

SPLITS = ("train", "val", "test")


def preprocess_arrays(*, ingested, out, n_classes, val_fraction, test_fraction, scaling, seed):
    """Write <out>/{train,val,test}.npz (X scaled, Y one-hot, classes) and <out>/meta.json."""
    data = load_npz(ingested)
    classes = preprocess.labels_to_classes(data["y"], n_classes)
    rng = np.random.default_rng(seed)
    parts = preprocess.stratified_split(classes, val_fraction, test_fraction, rng)
    for name, rows in sorted(zip(SPLITS, parts, strict=True), key=lambda p: p[0] != "test"):
        if len(rows) == 0 and (name != "val" or val_fraction > 0):
            raise DigitnetError(
                f"{ingested}: {len(classes)} examples are too few for val_fraction="
                f"{val_fraction} and test_fraction={test_fraction}: the {name} split is empty"
            )
    shift, scale = preprocess.fit_scaler(data["X"][parts[0]], scaling)
    with atomic_dir(out) as tmp:
        for name, rows in zip(SPLITS, parts, strict=True):
            save_npz(
                tmp / f"{name}.npz",
                X=preprocess.apply_scaler(data["X"][rows], shift, scale),
                Y=preprocess.one_hot(classes[rows], n_classes),
                classes=classes[rows],
            )
        save_npz(tmp / "scaler.npz", shift=shift, scale=scale)
        save_json(
            tmp / "meta.json",
            {
                "source_md5": str(data["source_md5"]),
                "n_classes": n_classes,
                "val_fraction": val_fraction,
                "test_fraction": test_fraction,
                "scaling": scaling,
                "seed": seed,
                "sizes": {name: len(rows) for name, rows in zip(SPLITS, parts, strict=True)},
            },
        )
    sizes = ", ".join(f"{name} {len(rows)}" for name, rows in zip(SPLITS, parts, strict=True))
    print(f"preprocess: {ingested} → {out}: {sizes} (stratified, seed {seed}, scaling {scaling})")
    return parts


def split_settings(config):
    """The settings the processed arrays depend on, as recorded in their meta.json."""
    return {
        "n_classes": config.data.n_classes,
        "val_fraction": config.data.val_fraction,
        "test_fraction": config.data.test_fraction,
        "scaling": config.data.scaling,
        "seed": config.seed,
    }


def from_config(config, out=None):
    """`preprocess_arrays` as `config` says, into `out` (default: paths.processed)."""
    return preprocess_arrays(
        ingested=config.paths.ingested,
        out=out or config.paths.processed,
        **split_settings(config),
    )


def main(argv=None):
    cli.run(from_config, argv)


if __name__ == "__main__":
    main()
