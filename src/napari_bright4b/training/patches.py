"""Random training patches with augmentation, from volumes already at the model's voxel size."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..inference.resample import resize, resize_nearest


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
    a random target channel (``centre_on="channels"``) or of a random nonzero target value
    (``"values"``: class-index targets such as painted labels), so rare structures are seen
    often. Augmentations: flips on every axis (``flip_z=False``: y and x only, for images
    whose z is not a symmetry, such as brightfield through-focus stacks), 90-degree
    rotations in xy (square patches), intensity gain and offset, and with ``scale > 0`` an
    anisotropic zoom by a factor in ``[1 - scale, 1 + scale]`` drawn per axis (targets
    resized by nearest neighbour).
    """

    def __init__(
        self,
        examples: Sequence[Example],
        patch: Sequence[int],
        rng: np.random.Generator,
        augment: bool = True,
        foreground_share: float = 0.5,
        *,
        centre_on: str = "channels",
        flip_z: bool = True,
        scale: float = 0.0,
    ):
        if not examples:
            raise ValueError("no training examples")
        if centre_on not in ("channels", "values"):
            raise ValueError(f"centre_on must be 'channels' or 'values', got {centre_on!r}")
        self.patch = tuple(int(p) for p in patch)
        largest = tuple(int(np.ceil(p * (1 + scale))) for p in self.patch)
        self.examples = [
            Example(_pad_to(e.image, largest, "reflect"), _pad_to(e.target, largest, "constant")) for e in examples
        ]
        self.rng, self.augment, self.foreground_share = rng, augment, foreground_share
        self.flip_axes = (1, 2, 3) if flip_z else (2, 3)
        self.scale = scale
        self._foreground = [_centres(e.target, centre_on) if foreground_share > 0 else [] for e in self.examples]

    def _corner(self, index: int, size: Sequence[int]) -> tuple[int, ...]:
        shape = self.examples[index].image.shape[1:]
        channels = [c for c in self._foreground[index] if c.size]
        if channels and self.rng.random() < self.foreground_share:
            voxels = channels[self.rng.integers(len(channels))]
            centre = np.unravel_index(self.rng.choice(voxels), shape)
            return tuple(int(np.clip(c - p // 2, 0, n - p)) for c, p, n in zip(centre, size, shape))
        return tuple(int(self.rng.integers(0, n - p + 1)) for p, n in zip(size, shape))

    def _crop_size(self) -> tuple[int, ...]:
        if not (self.augment and self.scale):
            return self.patch
        zoom = self.rng.uniform(1 - self.scale, 1 + self.scale, size=3)
        return tuple(max(1, int(round(p * z))) for p, z in zip(self.patch, zoom))

    def sample(self) -> tuple[np.ndarray, np.ndarray]:
        index = int(self.rng.integers(len(self.examples)))
        example = self.examples[index]
        size = self._crop_size()
        box = (slice(None),) + tuple(slice(c, c + p) for c, p in zip(self._corner(index, size), size))
        image, target = example.image[box], example.target[box]
        if size != self.patch:
            image, target = resize(image, self.patch), resize_nearest(target, self.patch)
        if self.augment:
            for axis in self.flip_axes:
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


def _centres(target: np.ndarray, centre_on: str) -> list[np.ndarray]:
    """Flat indices of the voxels crops may be centred on, one array per channel or per
    nonzero value of ``target (K, Z, Y, X)``."""
    if centre_on == "channels":
        return [np.flatnonzero(channel) for channel in target]
    values = np.unique(target[target > 0])
    return [np.flatnonzero((target == v).any(axis=0)) for v in values]
