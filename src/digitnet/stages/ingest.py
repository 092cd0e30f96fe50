"""DVC stage `ingest`: read the workbook once, validate every cell, write artifacts/ingested.npz.

It reads data.workbook (sheets data.x_sheet and data.y_sheet) and writes paths.ingested.
"""

from digitnet import cli, ingestion

PROG = "digitnet stage ingest"  # also `python -m digitnet.stages.ingest`
EXAMPLES = [
    "digitnet stage ingest",
    "digitnet stage ingest data.workbook=data/other.xlsx",
]


def main(argv=None):
    cli.run(
        ingestion.from_config,
        argv,
        prog=PROG,
        about=__doc__,
        examples=EXAMPLES,
    )


if __name__ == "__main__":
    main()
