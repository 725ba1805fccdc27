"""Tiles over a 3D volume and the weights that blend their predictions.

Tiles of at most ``tile`` voxels cover a ``(Z, Y, X)`` volume with at least ``overlap``
voxels shared by neighbours along each axis (the last tile of an axis ends flush with
the volume). Each tile's blending weight is a separable raised-cosine taper over the
overlap at its *inner* edges, and exactly zero in a halo of ``overlap // 4`` voxels
there, so a model whose output depends only on a neighbourhood of that radius gives
the same result tiled and untiled. Edges on the volume border are not tapered.

Weights are normalized per axis so they sum to one over all tiles at every voxel: a
prediction is complete as soon as its tiles are added, with no weight-sum array.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

Triple = tuple[int, int, int]


def axis_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of size ``min(tile, length)`` along an axis of ``length``."""
    if tile >= length:
        return [0]
    step = max(1, tile - overlap)
    count = math.ceil((length - tile) / step) + 1
    return sorted({round(i * (length - tile) / (count - 1)) for i in range(count)})


def taper(size: int, overlap: int, left: bool, right: bool) -> np.ndarray:
    """1D weights ``(size,)``: 1 inside, a raised-cosine ramp over ``overlap`` voxels at
    tapered edges, 0 in the first ``overlap // 4`` of them."""
    weights = np.ones(size, dtype=np.float32)
    overlap = min(overlap, size // 2)
    if overlap == 0:
        return weights
    halo = overlap // 4
    ramp_len = overlap - 2 * halo
    position = (np.arange(overlap, dtype=np.float32) - halo + 0.5) / max(ramp_len, 1)
    ramp = np.sin(0.5 * np.pi * np.clip(position, 0.0, 1.0)) ** 2
    ramp[:halo] = 0.0
    if left:
        weights[:overlap] = ramp
    if right:
        weights[size - overlap :] = np.minimum(weights[size - overlap :], ramp[::-1])
    return weights


@dataclass(frozen=True)
class TileGrid:
    """The tiling of a volume ``shape`` by ``tile`` with ``overlap`` (a fraction of the tile)."""

    shape: Triple
    tile: Triple
    overlap: float = 0.25

    def __post_init__(self):
        if len(self.shape) != 3 or min(self.shape) < 1:
            raise ValueError(f"volume shape must be 3 positive sizes (Z, Y, X), got {self.shape}")
        if len(self.tile) != 3 or min(self.tile) < 1:
            raise ValueError(f"tile must be 3 positive sizes (Z, Y, X), got {self.tile}")
        if not 0.0 <= self.overlap < 1.0:
            raise ValueError(f"overlap must be in [0, 1), got {self.overlap}")

    @property
    def tile_shape(self) -> Triple:
        """The tile actually used: ``tile`` clipped to the volume."""
        return tuple(min(t, s) for t, s in zip(self.tile, self.shape))

    @property
    def overlap_voxels(self) -> Triple:
        return tuple(int(round(self.overlap * t)) for t in self.tile_shape)

    def starts(self) -> list[list[int]]:
        return [axis_starts(s, t, o) for s, t, o in zip(self.shape, self.tile_shape, self.overlap_voxels)]

    def __len__(self) -> int:
        return math.prod(len(s) for s in self.starts())

    def __iter__(self) -> Iterator[tuple[slice, slice, slice]]:
        zs, ys, xs = self.starts()
        tz, ty, tx = self.tile_shape
        for z in zs:
            for y in ys:
                for x in xs:
                    yield slice(z, z + tz), slice(y, y + ty), slice(x, x + tx)

    @cached_property
    def _axis_totals(self) -> list[np.ndarray]:
        """Per axis, the sum of the tiles' 1D tapers at each position."""
        totals = []
        for size, starts, tile, o in zip(self.shape, self.starts(), self.tile_shape, self.overlap_voxels):
            total = np.zeros(size, dtype=np.float64)
            for start in starts:
                total[start : start + tile] += taper(tile, o, left=start > 0, right=start + tile < size)
            totals.append(total)
        return totals

    def weight(self, window: Sequence[slice]) -> np.ndarray:
        """Blending weights ``(z, y, x)`` of the tile at ``window``; they sum to 1 over tiles."""
        profiles = [
            (taper(sl.stop - sl.start, o, left=sl.start > 0, right=sl.stop < s) / total[sl]).astype(np.float32)
            for sl, o, s, total in zip(window, self.overlap_voxels, self.shape, self._axis_totals)
        ]
        return profiles[0][:, None, None] * profiles[1][None, :, None] * profiles[2][None, None, :]

    def windows_in(self, region: Sequence[slice]) -> list[tuple[slice, slice, slice]]:
        """The tiles that overlap ``region`` (one slice per axis), in grid order."""
        return [w for w in self if all(t.start < r.stop and r.start < t.stop for t, r in zip(w, region))]
