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
from . import catalog, demo, evaluate, export, finetune, inspect, predict, pretrain, train


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2, no usage block
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser(defaults: dict[str, dict] | None = None) -> argparse.ArgumentParser:
    """The command line; ``defaults`` (command -> option values, from a settings file) replace
    the options' defaults, so that flags given on the command line still win."""
    parser = Parser(prog="bright4b", description="3D foundation models for label-free microscopy.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for module in (catalog, predict, inspect, finetune, evaluate, train, pretrain, export, demo):
        module.add_parsers(sub)
    for command, values in (defaults or {}).items():
        sub.choices[command].set_defaults(**values)
    return parser


def _settings_defaults(argv: Sequence[str]) -> dict[str, dict]:
    """``{task: options}`` of the ``--settings`` file named in ``argv``, if one is."""
    from ..run_settings import read_settings

    early = argparse.ArgumentParser(add_help=False)
    early.add_argument("--settings")
    path = early.parse_known_args(argv)[0].settings
    if not path:
        return {}
    task, options = read_settings(path)
    return {task: options}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        defaults = _settings_defaults(argv)
    except BadInputError as err:
        print(f"bright4b: error: {err}", file=sys.stderr)
        return 2
    try:
        args = build_parser(defaults).parse_args(argv)
    except SystemExit as exit_:  # usage errors (exit 2), --help and --version (exit 0)
        return exit_.code
    if defaults and args.command not in defaults:
        task = next(iter(defaults))
        print(f"bright4b: error: {args.settings} holds {task} settings; use it with `bright4b {task}`", file=sys.stderr)
        return 2
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
    except OSError as err:  # the disk, not the input: full, read-only, gone
        where = f" ({err.filename})" if err.filename else ""
        print(f"bright4b: error: {err.strerror or err}{where}; nothing was written", file=sys.stderr)
        return 1
