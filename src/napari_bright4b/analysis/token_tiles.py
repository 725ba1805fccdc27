"""Tiles over the model grid that put each token's value in one place on the global token lattice.

Tiles start at multiples of ``patch * brick`` voxels, so every tile's tokens (and its NSA
blocks) coincide with the whole volume's. Neighbouring tiles overlap by whole bricks; each
token is taken from the tile whose centre region holds it (overlaps are cut at their
middle), so a token's value comes from one tile, never from a blend.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from ..inference.tiling import axis_starts

Window = tuple[slice, slice, slice]


@dataclass(frozen=True)
class TokenTile:
    """``voxels``: the model-grid window the model reads; ``keep``: the tokens of the tile's
    own lattice it contributes; ``place``: where they go on the global token lattice."""

    voxels: Window
    keep: Window
    place: Window


def _axis_tiles(size: int, patch: int, brick: int, tile_bricks: int, overlap: float) -> list[tuple[slice, ...]]:
    """Per tile along one axis of ``size`` voxels: ``(voxels, keep, place)`` slices."""
    tokens = math.ceil(size / patch)
    bricks = math.ceil(tokens / brick)
    length = min(tile_bricks, bricks)
    shared = min(math.ceil(overlap * length), length - 1)
    spans = [(b * brick, min((b + length) * brick, tokens)) for b in axis_starts(bricks, length, shared)]
    cuts = [0] + [(start + previous_end) // 2 for (start, _), (_, previous_end) in zip(spans[1:], spans)] + [tokens]
    return [
        (slice(start * patch, min(end * patch, size)), slice(low - start, high - start), slice(low, high))
        for (start, end), low, high in zip(spans, cuts, cuts[1:])
    ]


def token_tiles(
    shape: Sequence[int], patch: Sequence[int], brick: Sequence[int], tile: Sequence[int], overlap: float
) -> list[TokenTile]:
    """Tiles of at most ``tile`` voxels (a multiple of ``patch * brick``) over a model grid of
    ``shape`` voxels, overlapping by ``overlap`` of a tile (rounded up to whole bricks)."""
    per_axis = [_axis_tiles(s, p, b, max(1, t // (p * b)), overlap) for s, p, b, t in zip(shape, patch, brick, tile)]
    return [TokenTile(*(tuple(axes[i] for axes in parts) for i in range(3))) for parts in itertools.product(*per_axis)]
