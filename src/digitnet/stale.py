"""Mark RUNNING runs whose process is gone as KILLED: `python -m digitnet.stale [overrides]`.

A training process killed outright (kill -9, a crash) leaves its MLflow run RUNNING for ever.
Every sweep does this for its own experiment before its first job; run it by hand after a
crash of a single run. Settings as everywhere: `tracking.experiment=...`, `tracking.uri=...`.
"""

import sys

from digitnet import cli, tracking


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    with cli.reported():
        config = cli.load_config(argv)
        uri = tracking.tracking_uri(config.tracking.uri)
        marked = tracking.mark_stale(uri, config.tracking.experiment)
        print(
            f"stale: marked {len(marked)} RUNNING run(s) of experiment "
            f"{config.tracking.experiment!r} KILLED" + (f": {', '.join(marked)}" if marked else "")
        )


if __name__ == "__main__":
    main()
