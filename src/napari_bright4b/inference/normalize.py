"""Robust percentile normalization, as recorded in each model card.

Percentiles come from a regular subsample of at most ``MAX_SAMPLES`` voxels, so a
volume larger than RAM is never loaded whole; the mapping is then applied tile by tile.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import BadInputError

MAX_SAMPLES = 1 << 24


def check_finite(values: np.ndarray) -> None:
    if not np.issubdtype(values.dtype, np.number) or np.issubdtype(values.dtype, np.complexfloating):
        raise BadInputError(f"image must hold real numbers, got dtype {values.dtype}")
    if np.issubdtype(values.dtype, np.floating) and not np.isfinite(values).all():
        raise BadInputError("image contains NaN or infinite values; replace them (e.g. with 0) and try again")


def subsample(volume, index: tuple = ()) -> np.ndarray:
    """A regular subsample of ``volume[index]`` (``volume`` any sliceable array, ``index`` its
    leading indices, e.g. a class) with at most ``MAX_SAMPLES`` voxels; only those are read."""
    size = math.prod(volume.shape[len(index) :])
    step = max(1, math.ceil((size / MAX_SAMPLES) ** (1 / 3)))
    return np.asarray(volume[(*index, Ellipsis, *[slice(None, None, step)] * 3)])


def percentile_range(volume, low: float = 1.0, high: float = 99.8) -> tuple[float, float]:
    """The ``low`` and ``high`` percentiles of ``volume``; refuses constant or non-finite images."""
    sample = subsample(volume)
    check_finite(sample)
    lo, hi = np.percentile(sample, [low, high])
    if not hi > lo:
        raise BadInputError(
            f"image is constant between its {low} and {high} percentiles ({lo:g}); there is nothing to segment"
        )
    return float(lo), float(hi)


class Normalizer:
    """Maps intensities so that ``lo -> 0`` and ``hi -> 1`` (float32, not clipped), and back."""

    def __init__(self, lo: float, hi: float):
        self.lo, self.hi = lo, hi

    def __call__(self, values: np.ndarray) -> np.ndarray:
        values = np.asarray(values)
        check_finite(values)
        return ((values.astype(np.float32) - np.float32(self.lo)) / np.float32(self.hi - self.lo)).astype(
            np.float32, copy=False
        )

    def invert(self, values: np.ndarray) -> np.ndarray:
        """Normalized ``values`` back to the input's intensity units, in place."""
        values *= np.float32(self.hi - self.lo)
        values += np.float32(self.lo)
        return values


def percentile_normalize(volume: np.ndarray, low: float = 1.0, high: float = 99.8) -> np.ndarray:
    """Map the ``low`` and ``high`` percentiles of ``volume`` to 0 and 1 (a new float32 array)."""
    return Normalizer(*percentile_range(volume, low, high))(volume)
