"""Mark the RUNNING MLflow runs whose process is gone as KILLED.

A training process killed outright (kill -9, a crash) leaves its MLflow run RUNNING for ever.
Every sweep does this for its own experiment before its first job; run it by hand after a
crash of a single run. Only runs started on this host are marked: from here there is no
telling whether another machine's run still lives.
"""

import sys

from digitnet import cli, tracking

PROG = "digitnet stale"  # also `python -m digitnet.stale`
EXAMPLES = [
    "digitnet stale",
    "digitnet stale tracking=server tracking.experiment=my-experiment",
]


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    overrides = cli.settings(argv, PROG, __doc__, EXAMPLES)
    with cli.reported():
        config = cli.load_config(overrides)
        uri = tracking.store_uri(config.tracking)
        marked = tracking.mark_stale(uri, config.tracking.experiment)
        print(
            f"stale: marked {len(marked)} RUNNING run(s) of experiment "
            f"{config.tracking.experiment!r} KILLED" + (f": {', '.join(marked)}" if marked else "")
        )


if __name__ == "__main__":
    main()
