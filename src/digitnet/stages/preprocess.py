"""DVC stage `preprocess`: classes, one-hot targets, a stratified split and the fitted scaler."""

from digitnet import cli, splits


def main(argv=None):
    cli.run(splits.from_config, argv)


if __name__ == "__main__":
    main()
