"""`digitnet <command>`: one entry point for the commands that act on a trained network.

digitnet predict MODEL WORKBOOK [--csv OUT.csv] [--workbook OUT.xlsx]
"""

import argparse
import sys

COMMANDS = {"predict": "digitnet.predict"}  # command → module whose main(argv) runs it


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    commands = argparse.ArgumentParser(
        prog="digitnet", description="Commands that act on a trained network."
    )
    commands.add_argument("command", choices=sorted(COMMANDS))
    commands.add_argument("arguments", nargs=argparse.REMAINDER, help="see digitnet COMMAND -h")
    args = commands.parse_args(argv[:1])
    from importlib import import_module

    import_module(COMMANDS[args.command]).main(argv[1:])


if __name__ == "__main__":
    main()
