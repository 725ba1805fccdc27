"""Argument types shared by the commands; each refuses bad values with a one-line reason."""

from __future__ import annotations

import argparse
import math


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def overlap_fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"overlap must be a fraction in [0, 1), got {text!r}")
    return value


def add_voxel_size(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--voxel-size",
        nargs=3,
        type=positive_float,
        metavar=("Z", "Y", "X"),
        help="voxel size in micrometres (default: from the file's metadata, else the model's)",
    )
