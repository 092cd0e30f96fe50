"""The DVC pipeline's stages, one module each: ingest → preprocess → train → evaluate.

Each is a leaf: a `main()` that composes the config and calls one library function; no other
module imports a stage. `digitnet stage NAME [SETTINGS]` runs one, as dvc.yaml does.
"""

import sys

STAGES = ("ingest", "preprocess", "train", "evaluate")  # in the pipeline's order

HELP = """\
usage: digitnet stage {ingest,preprocess,train,evaluate} [-h] [KEY=VALUE ...]

Run one stage of the pipeline, as `dvc repro` does through dvc.yaml.

stages:
  ingest      read the workbook once, check every cell: artifacts/ingested.npz
  preprocess  one-hot targets, a stratified split, the scaler: artifacts/processed/
  train       fit the network: artifacts/model/, one MLflow run
  evaluate    accuracies, figures and metrics.json: artifacts/eval/

examples:
  digitnet stage ingest
  digitnet stage train experiment=best
  digitnet stage train --help"""


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in {"-h", "--help"}:
        print(HELP)
        return
    name, rest = argv[0], argv[1:]
    if name not in STAGES:
        print(
            f"error: unknown stage {name!r}; choose one of {', '.join(STAGES)} "
            "(digitnet stage --help)",
            file=sys.stderr,
        )
        sys.exit(2)
    if sys.argv and sys.argv[0] == "digitnet stage":  # the command, as MLflow's Source shows it
        sys.argv[0] = f"digitnet stage {name}"
    from importlib import import_module

    import_module(f"digitnet.stages.{name}").main(rest)
