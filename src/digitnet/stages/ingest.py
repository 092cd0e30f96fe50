"""DVC stage `ingest`: read the workbook once, validate every cell, write artifacts/ingested.npz.

It reads data.workbook (sheets data.x_sheet and data.y_sheet) and writes paths.ingested.
"""

from digitnet import cli

PROG = "digitnet stage ingest"  # also `python -m digitnet.stages.ingest`
EXAMPLES = [
    "digitnet stage ingest",
    "digitnet stage ingest data.workbook=data/other.xlsx",
]


def work(cfg):
    from digitnet import ingestion  # the work's imports come after the settings are checked

    ingestion.from_config(cfg)


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
