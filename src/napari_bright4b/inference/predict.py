"""Whole-volume prediction for a model and its card: normalize, resample, tile, resample back."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..models.bright4b import Bright4B
from ..models.card import ModelCard
from .engine import CancelToken, Progress, predict_tiled
from .normalize import percentile_normalize
from .resample import resize, target_shape


def predict_probabilities(
    model: Bright4B,
    card: ModelCard,
    volume: np.ndarray,
    voxel_size: Sequence[float] | None = None,
    tile: Sequence[int] | None = None,
    overlap: float = 0.25,
    batch_size: int = 1,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> np.ndarray:
    """Per-class probabilities ``(K, Z, Y, X)`` for ``volume (C, Z, Y, X)`` on its own grid.

    ``voxel_size`` (z, y, x, um) defaults to the card's, i.e. no resampling; ``tile``
    defaults to the card's native field of view.
    """
    weight = model.embed.proj.weight
    norm = card.normalization
    normalized = percentile_normalize(volume, norm["low"], norm["high"])
    shape = tuple(volume.shape[1:])
    model_shape = target_shape(shape, voxel_size or card.voxel_size, card.voxel_size)
    resampled = resize(normalized, model_shape)

    def predict(batch: torch.Tensor) -> torch.Tensor:
        return model.head.probabilities(model(batch))

    probabilities = predict_tiled(
        predict,
        resampled,
        card.head.channels,
        tile or card.tile,
        overlap,
        batch_size,
        device=weight.device,
        dtype=weight.dtype,
        progress=progress,
        cancel=cancel,
    )
    return np.clip(resize(probabilities, shape), 0.0, 1.0)
