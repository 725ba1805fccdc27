"""Whole-volume prediction for a model and its card: normalize, resample, tile, resample back.

One entry point for every task; the output is always on the input's voxel grid:

- ``segment``: per-class probabilities ``(K, Z, Y, X)`` in [0, 1];
- ``deblur``: the sharp image ``(C, Z, Y, X)`` in the input's intensity units;
- ``classify``: a per-voxel class-probability map ``(K, Z, Y, X)``, each tile's
  volume-level prediction blended like any other output (:func:`volume_probabilities`
  averages it into one distribution for the volume).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from typing import Any

import numpy as np
import torch

from ..models.card import ModelCard
from ..models.config import HeadConfig
from ..models.heads import activate
from .engine import CancelToken, Prepare, Progress, predict_tiled
from .normalize import Normalizer, percentile_range
from .resample import resize, target_shape
from .views import average_views


def _model_predict(model: torch.nn.Module, head: HeadConfig):
    weight = next(model.parameters())
    autocast = weight.device.type == "cuda" and weight.dtype == torch.float32

    def predict(batch: torch.Tensor) -> torch.Tensor:
        with torch.autocast("cuda", dtype=torch.bfloat16) if autocast else nullcontext():
            output = activate(head, model(batch)).float()
        if output.ndim == 2:  # classification: one distribution per tile, spread over the tile
            output = output[:, :, None, None, None].expand(-1, -1, *batch.shape[2:])
        return output

    return predict


def model_tile(card: ModelCard, tile: Sequence[int] | None = None) -> tuple[int, int, int]:
    """``tile`` (default: the card's) rounded up to the model's padding multiple: the model
    pads every input to that multiple, so a smaller tile would cost as much and see less."""
    multiple = card.config.spatial_multiple
    return tuple(-(-int(t) // m) * m for t, m in zip(tile or card.tile, multiple))


def run_model(
    model: torch.nn.Module,
    card: ModelCard,
    volume,
    voxel_size: Sequence[float] | None = None,
    tile: Sequence[int] | None = None,
    overlap: float = 0.25,
    *,
    views: int | None = None,
    batch_size: int | None = None,
    intensity_range: tuple[float, float] | None = None,
    out=None,
    region: Sequence[slice] | None = None,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
):
    """The task's output for ``volume (C, Z, Y, X)`` (NumPy or zarr) on its own grid.

    ``model`` maps ``(B, C, D, H, W)`` to the raw output of ``card.head`` (a Bright-4B
    model, or any network with that contract, such as a baseline).

    ``voxel_size`` (z, y, x, um) defaults to the card's (no resampling); ``tile`` to the
    card's native field of view (rounded up by :func:`model_tile`); ``views`` (symmetric
    y-x views averaged per tile, :mod:`.views`) to the card's; ``intensity_range``
    to the card's percentiles of this volume. ``out`` (a zero-filled array) and ``region`` are passed to the engine; a
    region needs the volume at the card's voxel size. The input is never modified.
    """
    norm = card.normalization
    normalizer = Normalizer(*(intensity_range or percentile_range(volume, norm["low"], norm["high"])))
    predict = average_views(_model_predict(model, card.head), card.views if views is None else views)
    kwargs = dict(tile=tile, overlap=overlap, batch_size=batch_size, out=out, region=region)
    result = on_model_grid(
        predict,
        card.head.channels,
        model,
        card,
        volume,
        voxel_size,
        normalizer,
        **kwargs,
        progress=progress,
        cancel=cancel,
    )
    return _finish(result, card, normalizer)


def on_model_grid(
    predict,
    channels: int,
    model: torch.nn.Module,
    card: ModelCard,
    volume,
    voxel_size: Sequence[float] | None,
    normalizer: Normalizer,
    *,
    tile: Sequence[int] | None = None,
    overlap: float = 0.25,
    batch_size: int | None = None,
    out=None,
    region: Sequence[slice] | None = None,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
):
    """``predict`` (tiles ``(B, C, z, y, x)`` -> ``(B, channels, z, y, x)`` on ``model``'s
    device) blended over ``volume (C, Z, Y, X)`` normalized by ``normalizer`` and resampled
    from ``voxel_size`` to the card's, the result ``(channels, Z, Y, X)`` resampled back."""
    weight = next(model.parameters())
    shape = tuple(volume.shape[1:])
    model_shape = target_shape(shape, voxel_size or card.voxel_size, card.voxel_size)
    resampled = model_shape != shape
    if resampled and region is not None:
        raise ValueError("a region needs the volume at the model's voxel size")
    source, prepare = model_grid_source(volume, model_shape, normalizer)
    result = predict_tiled(
        predict,
        source,
        channels,
        model_tile(card, tile),
        overlap,
        batch_size=batch_size,
        prepare=prepare,
        out=None if resampled else out,
        region=region,
        device=weight.device,
        dtype=weight.dtype,
        progress=progress,
        cancel=cancel,
    )
    if not resampled:
        return result
    result = resize(result, shape)
    if out is not None:
        out[...] = result
        result = out
    return result


def model_grid_source(volume, model_shape: Sequence[int], normalizer: Normalizer) -> tuple[Any, Prepare | None]:
    """What the engine reads for ``volume (C, Z, Y, X)`` on a model grid of ``model_shape``
    ``(z, y, x)`` voxels, and how each tile is prepared: the volume itself, normalized tile
    by tile, when it has that shape already; else the whole volume normalized and resampled
    (float32, read as it is: ``None``)."""
    if tuple(volume.shape[1:]) == tuple(model_shape):
        return volume, normalizer
    return resize(normalizer(volume), tuple(model_shape)), None


def _finish(result, card: ModelCard, normalizer: Normalizer):
    """Clip probabilities to [0, 1] or map a deblurred image back to intensities, in place."""
    for index in range(result.shape[0]):  # one channel at a time bounds the memory of zarr outputs
        channel = np.asarray(result[index])
        if card.head.task == "deblur":
            channel = normalizer.invert(channel)
        else:
            np.clip(channel, 0.0, 1.0, out=channel)
        if not isinstance(result, np.ndarray):
            result[index] = channel
    return result


def volume_probabilities(class_map) -> np.ndarray:
    """The mean of a per-voxel class map ``(K, Z, Y, X)``: one distribution ``(K,)``."""
    sums = np.array([float(np.asarray(class_map[k], dtype=np.float64).sum()) for k in range(class_map.shape[0])])
    return sums / sums.sum()
