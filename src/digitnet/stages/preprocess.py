"""DVC stage `preprocess`: classes, one-hot targets, a stratified split and the fitted scaler.

It reads paths.ingested and writes train.npz, val.npz, test.npz, scaler.npz and meta.json into
paths.processed, as data.val_fraction, data.test_fraction, data.scaling and seed say.
"""

from digitnet import cli

PROG = "digitnet stage preprocess"  # also `python -m digitnet.stages.preprocess`
EXAMPLES = [
    "digitnet stage preprocess experiment=best",
    "digitnet stage preprocess data.val_fraction=0.2 seed=1",
]


def work(cfg):
    from digitnet import splits  # the work's imports come after the settings are checked

    splits.from_config(cfg)


def main(argv=None):
    cli.run(
        work,
        argv,
        prog=PROG,
        about=__doc__,
        examples=EXAMPLES,
    )


if __name__ == "__main__":
    main()
