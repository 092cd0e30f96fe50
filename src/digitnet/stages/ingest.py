"""DVC stage `ingest`: read the workbook once, validate every cell, write artifacts/ingested.npz.

It reads data.workbook (sheets data.x_sheet and data.y_sheet) and writes paths.ingested.
"""

from digitnet import cli, ingestion

EXAMPLES = [
    "python -m digitnet.stages.ingest",
    "python -m digitnet.stages.ingest data.workbook=data/other.xlsx",
]


def main(argv=None):
    cli.run(
        ingestion.from_config,
        argv,
        prog="python -m digitnet.stages.ingest",
        about=__doc__,
        examples=EXAMPLES,
    )


if __name__ == "__main__":
    main()
