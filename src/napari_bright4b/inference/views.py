"""Test-time augmentation: a model's output averaged over symmetric views of each tile.

The views are elements of the x-y dihedral group (mirrors and quarter turns in the y-x
plane), which the bundled models were trained to respect; z is never flipped (a
brightfield focus stack is not symmetric in z). 1 view is the plain model; 2 adds the x
mirror, 4 all y/x mirrors, 8 also the quarter turns (y and x swap, so the tile's y-x
voxel size should be square). The cost grows with the number of views.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..models.card import VIEW_COUNTS

# (quarter turns in y-x, mirror in x); the first 1, 2 and 4 are subgroups
_DIHEDRAL = ((0, False), (0, True), (2, False), (2, True), (1, False), (1, True), (3, False), (3, True))


def _view(batch: torch.Tensor, turns: int, mirror: bool) -> torch.Tensor:
    batch = torch.rot90(batch, turns, (-2, -1)) if turns else batch
    return batch.flip(-1) if mirror else batch


def _unview(output: torch.Tensor, turns: int, mirror: bool) -> torch.Tensor:
    output = output.flip(-1) if mirror else output
    return torch.rot90(output, -turns, (-2, -1)) if turns else output


def average_views(
    predict: Callable[[torch.Tensor], torch.Tensor], views: int
) -> Callable[[torch.Tensor], torch.Tensor]:
    """``predict`` (``(B, C, Z, Y, X)`` to ``(B, K, Z, Y, X)``) averaged over ``views`` views."""
    if views not in VIEW_COUNTS:
        raise ValueError(f"views must be one of {VIEW_COUNTS} (mirrors and quarter turns in y-x), got {views!r}")
    if views == 1:
        return predict

    def averaged(batch: torch.Tensor) -> torch.Tensor:
        total = None
        for turns, mirror in _DIHEDRAL[:views]:
            output = _unview(predict(_view(batch, turns, mirror)), turns, mirror)
            total = output if total is None else total + output
        return total / views

    return averaged
