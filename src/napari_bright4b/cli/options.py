"""Argument types and checks shared by the commands; each refuses bad values with a one-line reason."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from ..errors import BadInputError


def _number(text: str, convert, ok, expected: str):
    try:
        value = convert(text)
    except ValueError:
        value = None
    if value is None or not ok(value):
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    return value


def positive_float(text: str) -> float:
    return _number(text, float, lambda v: math.isfinite(v) and v > 0, "a positive number")


def positive_int(text: str) -> int:
    return _number(text, int, lambda v: v >= 1, "a positive integer")


def overlap_fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"overlap must be a fraction in [0, 1), got {text!r}")
    return value


def add_zyx(parser: argparse.ArgumentParser, flag: str, kind, help: str, **kwargs) -> None:
    """Add ``flag Z Y X``: three values parsed by ``kind`` (e.g. :func:`positive_int`), (z, y, x) order."""
    parser.add_argument(flag, nargs=3, type=kind, metavar=("Z", "Y", "X"), help=help, **kwargs)


def add_voxel_size(parser: argparse.ArgumentParser) -> None:
    text = "voxel size in micrometres (default: from the file's metadata, else the model's)"
    add_zyx(parser, "--voxel-size", positive_float, text)


def safetensors_output(path: str, what: str) -> Path:
    """``path`` as a Path, refused unless it names a ``.safetensors`` file (``what`` names it)."""
    out = Path(path)
    if out.suffix != ".safetensors":
        raise BadInputError(f"{what} must be a .safetensors file, got {out.name}")
    return out


def add_axes(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--axes",
        help="the stored array's axes, overriding the file's metadata, e.g. ZYX for a stack saved as channels",
    )


def add_settings(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--settings",
        help="a settings file saved from the dock (Save settings...): its values replace the defaults, "
        "flags given here still win",
    )
