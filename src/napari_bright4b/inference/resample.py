"""Resampling between the input's voxel grid and the model's training voxel size.

Voxel sizes are ``(z, y, x)`` in micrometres. A volume is resampled so that its voxels
match the model's, the model runs, and results are resampled back to exactly the input
shape, so outputs always line up with the input grid.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import BadInputError

# Relative voxel-size differences below this are treated as equal (no resampling).
TOLERANCE = 0.02


def check_voxel_size(voxel_size: Sequence[float]) -> tuple[float, float, float]:
    values = tuple(float(v) for v in voxel_size)
    if len(values) != 3 or not all(np.isfinite(v) and v > 0 for v in values):
        raise BadInputError(f"voxel size must be 3 positive numbers (z, y, x) in micrometres, got {tuple(voxel_size)}")
    return values


def target_shape(shape: Sequence[int], voxel_size: Sequence[float], model_voxel_size: Sequence[float]) -> tuple:
    """The ``(Z, Y, X)`` shape of ``shape`` resampled from ``voxel_size`` to ``model_voxel_size``."""
    out = []
    for n, have, want in zip(shape, check_voxel_size(voxel_size), check_voxel_size(model_voxel_size)):
        same = abs(have - want) <= TOLERANCE * want
        out.append(n if same else max(1, int(round(n * have / want))))
    return tuple(out)


def resize(volume: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """Trilinear resize of ``volume (C, Z, Y, X)`` to ``(C, *shape)``; a no-op when equal."""
    if tuple(volume.shape[1:]) == tuple(shape):
        return volume
    tensor = torch.from_numpy(np.ascontiguousarray(volume, dtype=np.float32))[None]
    resized = F.interpolate(tensor, size=tuple(shape), mode="trilinear", align_corners=False)
    return resized[0].numpy()


def resize_nearest(volume: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """Nearest-neighbour resize of ``volume (C, Z, Y, X)`` to ``(C, *shape)``: every output
    voxel takes the value of the input voxel its centre falls in, so labels keep their values
    (an unpainted 0 stays 0); a no-op when the shapes are equal."""
    if tuple(volume.shape[1:]) == tuple(shape):
        return volume
    index = [np.minimum(((np.arange(m) + 0.5) * n / m).astype(np.intp), n - 1) for n, m in zip(volume.shape[1:], shape)]
    return volume[np.ix_(range(volume.shape[0]), *index)]
