"""Masked reconstruction: hide 3D blocks of a patch and learn to fill them in.

As in the light-sheet foundation model's masked image modelling: the patch is cut into
blocks of the backbone's token size, a share ``ratio`` of them is zeroed, and the loss is
the mean squared error on the hidden voxels only (what the network could see teaches
nothing). With TokenUnify's tasks (:mod:`.token_unify`) the hidden blocks follow each
sample's task and only the task's scored blocks count.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..patches import Example, PatchSampler
from .token_unify import TASKS, curriculum_weights, task_cells


def _cells(size: Sequence[int], block: Sequence[int]) -> list[int]:
    """Blocks per axis of a ``size`` patch (a partial last block counts)."""
    return [-(-n // b) for n, b in zip(size, block)]


def cells_to_voxels(flags: np.ndarray, size: Sequence[int], block: Sequence[int]) -> torch.Tensor:
    """Per-block ``flags (B, cells)`` (raster order) as a ``(B, 1, Z, Y, X)`` voxel mask of a
    ``size`` patch cut into ``block``-sized blocks."""
    grid = flags.reshape(flags.shape[0], 1, *_cells(size, block))
    for axis, b in enumerate(block):
        grid = np.repeat(grid, b, axis=2 + axis)
    return torch.from_numpy(np.ascontiguousarray(grid[:, :, : size[0], : size[1], : size[2]]))


def masked_reconstruction_loss(output: torch.Tensor, image: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error of ``output (B, C, Z, Y, X)`` against the original image on the
    scored voxels of each sample, averaged over the samples with any; ``target`` is
    ``(B, C + 1 [+ 1], ...)``: the original, then the scored mask (the hidden voxels, or a
    task's share of them) and, from :class:`MaskedPatches`, the source. Nothing scored: 0."""
    channels = output.shape[1]
    original, mask = target[:, :channels], target[:, channels : channels + 1]
    voxels = mask.flatten(1).sum(1)
    per_sample = ((output - original) ** 2 * mask).flatten(1).sum(1) / (voxels * channels).clamp(min=1.0)
    return per_sample.sum() / (voxels > 0).sum().clamp(min=1)


def volume_patches(
    volumes: Sequence[np.ndarray], tile: Sequence[int], rng: np.random.Generator, augment: bool = True
) -> PatchSampler:
    """A sampler of ``tile`` patches of ``volumes`` ``(C, Z, Y, X)`` anywhere in them, each
    patch's target the index of its volume (a broadcast view: no memory)."""
    index = [np.broadcast_to(np.uint16(i), (1, *v.shape[1:])) for i, v in enumerate(volumes)]
    examples = [Example(v, i) for v, i in zip(volumes, index)]
    return PatchSampler(examples, tile, rng, augment=augment, foreground_share=0.0)


class MaskedPatches:
    """Batches for :func:`masked_reconstruction_loss` from ``sampler``'s patches.

    Each call draws the *global* batch, ``size * world`` patches and their masks, from the
    one seeded stream every rank shares, and keeps this ``rank``'s share: ``world``
    processes with batch ``size`` see exactly the patches one process with batch
    ``size * world`` sees. Returns ``(masked image, target)``, the target ``(B, C + 2, Z, Y,
    X)``: the original, the scored mask and the first channel of the sampler's target (the
    index of each patch's volume, for :mod:`.image_text`).

    ``token_unify``: each sample's blocks are hidden by a TokenUnify task drawn from the
    curriculum (:mod:`.token_unify`) at the run's progress, which the trainer reports
    through :meth:`follow_schedule`; else every sample is masked at random (``ratio``).
    """

    def __init__(
        self,
        sampler: PatchSampler,
        block: Sequence[int],
        ratio: float,
        rank: int = 0,
        world: int = 1,
        *,
        token_unify: bool = False,
    ):
        if not 0.0 < ratio < 1.0:
            raise ValueError(f"the mask ratio must be in (0, 1), got {ratio}")
        self.sampler, self.block, self.ratio, self.rank, self.world = sampler, tuple(block), ratio, rank, world
        self.token_unify, self.progress = token_unify, 0.0

    def follow_schedule(self, progress: float) -> None:
        """The share of the run done, in [0, 1], which sets the curriculum's weights."""
        self.progress = progress

    @property
    def rng(self) -> np.random.Generator:
        return self.sampler.rng

    def batch(self, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, source = self.sampler.batch(size * self.world)
        shape = image.shape[2:]
        count = int(np.prod(_cells(shape, self.block)))
        tasks = ["random"] * image.shape[0]
        if self.token_unify:
            tasks = list(self.rng.choice(TASKS, size=image.shape[0], p=curriculum_weights(self.progress)))
        hidden, scored = zip(*(task_cells(task, count, self.ratio, self.rng) for task in tasks))
        share = slice(self.rank * size, (self.rank + 1) * size)
        hidden = cells_to_voxels(np.stack(hidden), shape, self.block)[share]
        scored = cells_to_voxels(np.stack(scored), shape, self.block)[share]
        image, source = image[share], source[share, :1].to(image.dtype)
        return image * (1.0 - hidden), torch.cat([image, scored, source], dim=1)
