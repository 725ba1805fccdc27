"""Masked reconstruction: hide random 3D blocks of a patch and learn to fill them in.

As in the light-sheet foundation model's masked image modelling: the patch is cut into
blocks of the backbone's token size, a share ``ratio`` of them is zeroed, and the loss is
the mean squared error on the hidden voxels only (what the network could see teaches
nothing).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..patches import PatchSampler


def block_mask(shape: Sequence[int], block: Sequence[int], ratio: float, rng: np.random.Generator) -> torch.Tensor:
    """``(B, 1, Z, Y, X)`` float mask, 1 on a random ``ratio`` of the ``block``-sized cells of
    each sample (rounded to whole cells; the grid covers a partial last cell)."""
    batch, *size = shape
    cells = [-(-n // b) for n, b in zip(size, block)]
    count = int(np.prod(cells))
    hidden = round(ratio * count)
    grid = np.zeros((batch, count), np.float32)
    for sample in grid:
        sample[rng.choice(count, hidden, replace=False)] = 1.0
    grid = grid.reshape(batch, 1, *cells)
    for axis, b in enumerate(block):
        grid = np.repeat(grid, b, axis=2 + axis)
    return torch.from_numpy(np.ascontiguousarray(grid[:, :, : size[0], : size[1], : size[2]]))


def masked_reconstruction_loss(output: torch.Tensor, image: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error of ``output (B, C, Z, Y, X)`` against the original image, on the
    hidden voxels only; ``target`` is ``(B, C + 1, ...)``: the original, then the mask. No
    hidden voxel: 0."""
    channels = output.shape[1]
    original, mask = target[:, :channels], target[:, channels:]
    return ((output - original) ** 2 * mask).sum() / (mask.sum() * channels).clamp(min=1.0)


class MaskedPatches:
    """Batches for :func:`masked_reconstruction_loss` from ``sampler``'s patches.

    Each call draws the *global* batch, ``size * world`` patches and their masks, from the
    one seeded stream every rank shares, and keeps this ``rank``'s share: ``world``
    processes with batch ``size`` see exactly the patches one process with batch
    ``size * world`` sees. Returns ``(masked image, original and mask)``.
    """

    def __init__(self, sampler: PatchSampler, block: Sequence[int], ratio: float, rank: int = 0, world: int = 1):
        if not 0.0 < ratio < 1.0:
            raise ValueError(f"the mask ratio must be in (0, 1), got {ratio}")
        self.sampler, self.block, self.ratio, self.rank, self.world = sampler, tuple(block), ratio, rank, world

    @property
    def rng(self) -> np.random.Generator:
        return self.sampler.rng

    def batch(self, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, _ = self.sampler.batch(size * self.world)
        mask = block_mask((image.shape[0], *image.shape[2:]), self.block, self.ratio, self.sampler.rng)
        share = slice(self.rank * size, (self.rank + 1) * size)
        image, mask = image[share], mask[share]
        return image * (1.0 - mask), torch.cat([image, mask], dim=1)
