"""Robust percentile normalization, as recorded in each model card."""

from __future__ import annotations

import numpy as np

from ..errors import BadInputError


def check_finite(volume: np.ndarray) -> None:
    if not np.issubdtype(volume.dtype, np.number) or np.issubdtype(volume.dtype, np.complexfloating):
        raise BadInputError(f"image must hold real numbers, got dtype {volume.dtype}")
    if np.issubdtype(volume.dtype, np.floating) and not np.isfinite(volume).all():
        raise BadInputError("image contains NaN or infinite values; replace them (e.g. with 0) and try again")


def percentile_normalize(volume: np.ndarray, low: float = 1.0, high: float = 99.8) -> np.ndarray:
    """Map the ``low`` and ``high`` percentiles of ``volume`` to 0 and 1 (float32, not clipped).

    The input is never modified. A volume whose percentiles coincide (constant, or
    almost all one value) cannot be normalized and is refused.
    """
    check_finite(volume)
    lo, hi = np.percentile(volume, [low, high])
    if not hi > lo:
        raise BadInputError(
            f"image is constant between its {low} and {high} percentiles ({lo:g}); there is nothing to segment"
        )
    return ((volume.astype(np.float32) - np.float32(lo)) / np.float32(hi - lo)).astype(np.float32, copy=False)
