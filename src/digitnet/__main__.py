"""`digitnet COMMAND ...`: the one command of the project; `digitnet COMMAND --help` for each.

A command's module is imported only when it runs, so `digitnet --help` and the light commands
start without loading Hydra, MLflow or matplotlib.
"""

import os
import sys
from importlib import import_module

# The usage reports of the tools digitnet runs stay off unless a user turns them on
# (MLFLOW_DISABLE_TELEMETRY=false, DVC_NO_ANALYTICS unset): docs/installing.md, "Telemetry".
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")

# command → ("module:function" that runs it with the rest of the command line, what it does)
COMMANDS = {
    "sample": ("digitnet.sample:main", "build the sample workbook data/digits.xlsx"),
    "train": ("digitnet.train:main", "train and evaluate once, or sweep with -m (Hydra settings)"),
    "stage": ("digitnet.__main__:stage", "run one pipeline stage as dvc.yaml runs it"),
    "promote": ("digitnet.promote:main", "register a run's model and move the champion alias"),
    "predict": ("digitnet.predict:main", "predict the digits of a workbook with a model"),
    "request": ("digitnet.predict:request_main", "rows of a workbook as a REST request body"),
    "stale": ("digitnet.stale:main", "mark MLflow runs whose process is gone as KILLED"),
    "ui": ("digitnet.ui:main", "open the MLflow UI on this project's runs"),
}

USAGE = "usage: digitnet [-h] COMMAND [ARGUMENTS ...]"

_LISTING = "".join(f"  {name:<9} {about}\n" for name, (_, about) in COMMANDS.items())

HELP = f"""\
{USAGE}

A NumPy network that reads handwritten digits from an Excel workbook, run as a DVC
pipeline, configured by Hydra and tracked in MLflow.

commands:
{_LISTING}
examples:
  digitnet sample                        # data/digits.xlsx, 5,000 real digits
  dvc repro                              # the pipeline: ingest, preprocess, train, evaluate
  digitnet train experiment=best         # one run outside the pipeline, with a preset
  digitnet train -m sweep=grid           # a sweep: one MLflow parent run, a child per job
  digitnet promote && digitnet ui        # the sweep's best as models:/digits@champion

digitnet COMMAND --help tells more about each."""


STAGE_HELP = """\
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
    name, rest = _chosen(argv, COMMANDS, "command", "digitnet", HELP)
    if name is None:
        return
    module, _, function = COMMANDS[name][0].partition(":")
    try:
        getattr(import_module(module), function)(rest)
    except BrokenPipeError:  # `digitnet train --help | head`: the reader left, nothing to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)


def stage(argv):
    """`digitnet stage NAME [SETTINGS]`: the stage's own module runs; this only picks it, so
    dvc.yaml lists the stage's modules and not this one (tests/test_contract.py)."""
    from digitnet.stages import STAGES

    name, rest = _chosen(argv, STAGES, "stage", "digitnet stage", STAGE_HELP)
    if name is not None:
        import_module(f"digitnet.stages.{name}").main(rest)


def _chosen(argv, names, kind, prog, help_text):
    """(name, the rest of argv) for `prog NAME ...`; (None, None) after printing the help; one
    line and exit status 2 for a name not among `names`. sys.argv becomes `prog NAME` and the
    rest: what Hydra, usage lines and MLflow's Source column see."""
    if not argv or argv[0] in {"-h", "--help"}:
        print(help_text)
        return None, None
    name, rest = argv[0], argv[1:]
    if name not in names:
        print(
            f"error: unknown {kind} {name!r}; choose one of {', '.join(names)} ({prog} --help)",
            file=sys.stderr,
        )
        sys.exit(2)
    sys.argv = [f"{prog} {name}", *rest]
    return name, rest


if __name__ == "__main__":
    main()
