"""`digitnet <command>`: one entry point for the commands that act on a trained network.

digitnet promote [--run ID] [--name digits] [--alias champion]
digitnet predict MODEL WORKBOOK [--csv OUT.csv] [--workbook OUT.xlsx]
digitnet request WORKBOOK [--rows 1-3]
"""

import argparse
import sys

# command → "module:function" that runs it with the rest of the command line
COMMANDS = {
    "promote": "digitnet.promote:main",  # register a run's model, move the champion alias
    "predict": "digitnet.predict:main",  # a model's digits for a workbook
    "request": "digitnet.predict:request_main",  # rows of a workbook as a REST request body
}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    commands = argparse.ArgumentParser(
        prog="digitnet",
        description="Commands that act on a trained network.",
        epilog=(
            "from a sweep to a served model: digitnet promote, then digitnet predict "
            "models:/digits@champion WORKBOOK or mlflow models serve -m models:/digits@champion"
        ),
    )
    commands.add_argument("command", choices=sorted(COMMANDS))
    commands.add_argument("arguments", nargs=argparse.REMAINDER, help="see digitnet COMMAND -h")
    args = commands.parse_args(argv[:1])
    from importlib import import_module

    module, _, function = COMMANDS[args.command].partition(":")
    getattr(import_module(module), function)(argv[1:])


if __name__ == "__main__":
    main()
