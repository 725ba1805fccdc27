"""The ``bright4b`` command line. Bad input exits 2 with one line on stderr, never a traceback.

Importing this package does not import torch: ``bright4b models`` and ``info`` are instant,
and the commands that run models import it when they start.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .. import __version__
from ..errors import BadInputError, OutOfMemory
from . import catalog, demo, evaluate, finetune, inspect, predict, train


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2, no usage block
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="bright4b", description="3D foundation models for label-free microscopy.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for module in (catalog, predict, inspect, finetune, evaluate, train, demo):
        module.add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:  # usage errors (exit 2), --help and --version (exit 0)
        return exit_.code
    try:
        return args.run(args)
    except BadInputError as err:
        print(f"bright4b: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bright4b: interrupted; nothing was written", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (``bright4b info M | head``): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so exit's flush cannot fail again
        return 141
    except OutOfMemory as err:
        print(f"bright4b: error: {err}", file=sys.stderr)
        return 1
