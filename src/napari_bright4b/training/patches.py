"""Random training patches with augmentation, from volumes already at the model's voxel size."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Example:
    """``image (C, Z, Y, X)`` float32, normalized as the model card says; ``target``
    ``(K, Z, Y, X)`` (masks, class indices or a sharp image) on the same grid."""

    image: np.ndarray
    target: np.ndarray

    def __post_init__(self):
        if self.image.ndim != 4 or self.target.ndim != 4 or self.image.shape[1:] != self.target.shape[1:]:
            raise ValueError(
                f"image {self.image.shape} and target {self.target.shape} must be (C, Z, Y, X) on the same grid"
            )


def _pad_to(array: np.ndarray, patch: Sequence[int], mode: str) -> np.ndarray:
    widths = [(0, 0)] + [(0, max(0, p - n)) for p, n in zip(patch, array.shape[1:])]
    return np.pad(array, widths, mode=mode) if any(w[1] for w in widths) else array


class PatchSampler:
    """Draws ``patch``-sized (Z, Y, X) crops from ``examples``.

    Half of the crops (``foreground_share``) are centred on a random foreground voxel of
    a random target channel, so rare structures are seen often. Augmentations: flips on
    every axis, 90-degree rotations in xy (square patches), intensity gain and offset.
    """

    def __init__(
        self,
        examples: Sequence[Example],
        patch: Sequence[int],
        rng: np.random.Generator,
        augment: bool = True,
        foreground_share: float = 0.5,
    ):
        if not examples:
            raise ValueError("no training examples")
        self.patch = tuple(int(p) for p in patch)
        self.examples = [
            Example(_pad_to(e.image, self.patch, "reflect"), _pad_to(e.target, self.patch, "constant"))
            for e in examples
        ]
        self.rng, self.augment, self.foreground_share = rng, augment, foreground_share
        self._foreground = [[np.flatnonzero(channel) for channel in e.target] for e in self.examples]

    def _corner(self, index: int) -> tuple[int, ...]:
        shape = self.examples[index].image.shape[1:]
        channels = [c for c in self._foreground[index] if c.size]
        if channels and self.rng.random() < self.foreground_share:
            voxels = channels[self.rng.integers(len(channels))]
            centre = np.unravel_index(self.rng.choice(voxels), shape)
            return tuple(int(np.clip(c - p // 2, 0, n - p)) for c, p, n in zip(centre, self.patch, shape))
        return tuple(int(self.rng.integers(0, n - p + 1)) for p, n in zip(self.patch, shape))

    def sample(self) -> tuple[np.ndarray, np.ndarray]:
        index = int(self.rng.integers(len(self.examples)))
        example = self.examples[index]
        box = (slice(None),) + tuple(slice(c, c + p) for c, p in zip(self._corner(index), self.patch))
        image, target = example.image[box], example.target[box]
        if self.augment:
            for axis in (1, 2, 3):
                if self.rng.random() < 0.5:
                    image, target = np.flip(image, axis), np.flip(target, axis)
            if self.patch[1] == self.patch[2]:
                turns = int(self.rng.integers(4))
                image, target = np.rot90(image, turns, (2, 3)), np.rot90(target, turns, (2, 3))
            image = image * self.rng.uniform(0.85, 1.15) + self.rng.uniform(-0.1, 0.1)
        return np.ascontiguousarray(image, dtype=np.float32), np.ascontiguousarray(target)

    def batch(self, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``size`` patches as ``(B, C, Z, Y, X)`` image and target tensors."""
        pairs = [self.sample() for _ in range(size)]
        return torch.from_numpy(np.stack([p[0] for p in pairs])), torch.from_numpy(np.stack([p[1] for p in pairs]))
