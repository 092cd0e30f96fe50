"""DVC stage `ingest`: read the workbook once, validate every cell, write artifacts/ingested.npz."""

from digitnet import cli, ingestion


def main(argv=None):
    cli.run(ingestion.from_config, argv)


if __name__ == "__main__":
    main()
