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


def linear_weights(size_in: int, size_out: int, start: int, stop: int):
    """For output voxels ``start..stop`` of a length ``size_in -> size_out`` linear resize (as
    ``F.interpolate(mode="trilinear", align_corners=False)`` computes it, in float32): the
    two input indices each reads and the weight of the second, ``(i0, i1, w1)``."""
    scale = np.float32(size_in / size_out)
    source = scale * (np.arange(start, stop, dtype=np.float32) + np.float32(0.5)) - np.float32(0.5)
    source = np.maximum(source, np.float32(0.0))
    i0 = source.astype(np.intp)
    i1 = np.where(i0 < size_in - 1, i0 + 1, i0)
    return i0, i1, np.clip(source - i0, 0.0, 1.0).astype(np.float32)


def _interpolate(block: np.ndarray, axis: int, i0: np.ndarray, i1: np.ndarray, w1: np.ndarray) -> np.ndarray:
    shape = [1] * block.ndim
    shape[axis] = len(w1)
    w1 = w1.reshape(shape)
    first = np.take(block, i0, axis=axis).astype(np.float32, copy=False)
    return first + (np.take(block, i1, axis=axis) - first) * w1


def resize_lazy(volume, shape: Sequence[int]):
    """:func:`resize` of a dask array ``(C, Z, Y, X)`` to ``(C, *shape)``, kept lazy: each
    axis in turn, each output chunk read from just the input slab it needs (so the
    memory a task needs stays one chunk wide), equal to :func:`resize` to float32
    rounding."""
    import dask.array as da

    for axis, size_out in zip((1, 2, 3), shape):
        size_in = volume.shape[axis]
        if size_in == size_out:
            continue
        step = max(1, round(volume.chunks[axis][0] * size_out / size_in))
        pieces = []
        for start in range(0, size_out, step):
            i0, i1, w1 = linear_weights(size_in, size_out, start, min(size_out, start + step))
            low, high = int(i0.min()), int(i1.max()) + 1
            slab = volume[(slice(None),) * axis + (slice(low, high),)].rechunk({axis: high - low})
            chunks = tuple((len(w1),) if a == axis else c for a, c in enumerate(slab.chunks))
            args = (axis, i0 - low, i1 - low, w1)
            pieces.append(slab.map_blocks(_interpolate, *args, chunks=chunks, dtype=np.float32))
        volume = da.concatenate(pieces, axis=axis)
    return volume
