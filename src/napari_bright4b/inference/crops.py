"""Random crops of a volume, for quick looks at a model's behaviour on an image."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

CROPS = 4


def random_crops(image: np.ndarray, size: Sequence[int], rng: np.random.Generator, crops: int = CROPS) -> torch.Tensor:
    """``(crops, C, *size)`` random crops of ``image (C, Z, Y, X)``; ``size`` is clipped to the image."""
    size = [min(s, n) for s, n in zip(size, image.shape[1:])]
    corners = [[int(rng.integers(0, n - s + 1)) for s, n in zip(size, image.shape[1:])] for _ in range(crops)]
    boxes = [(slice(None), *(slice(c, c + s) for c, s in zip(corner, size))) for corner in corners]
    return torch.from_numpy(np.stack([image[box] for box in boxes]))
