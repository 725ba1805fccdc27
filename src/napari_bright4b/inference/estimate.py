"""How much memory and time a run will take, before it runs.

Memory has two parts. RAM: the arrays the run holds (probabilities or the deblurred
image on the input grid, resampled copies when the input's voxel size differs from the
model's, masks, instance labels, a class map); the input itself is already in memory and
not counted. The device: the weights plus one tile's working memory, about
``176 + 24 * f`` bytes per tile voxel (``f``: decoder features), as measured (peak
resident memory) for nano models on CPU with f = 4, 8 and 16; on CUDA one tile is
measured. Time: tiles x seconds per tile, measured with one tile on the chosen device
(:func:`measure_tile`) or learnt from a previous run.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

from ..models.card import ModelCard
from ..models.config import total_parameters
from .predict import model_tile
from .resample import target_shape
from .tiling import TileGrid

FLOAT = 4  # bytes: outputs and weights are float32


@dataclass(frozen=True)
class Estimate:
    """``tiles`` the engine will run, ``ram_bytes`` of arrays, ``device_bytes`` (weights and one
    tile's working memory) and ``seconds`` (``None`` until a tile has been timed)."""

    tiles: int
    ram_bytes: int
    device_bytes: int
    seconds: float | None = None

    def describe(self) -> str:
        """One line, e.g. ``"12 tiles · RAM 0.21 GB · device 0.05 GB · about 3 s"``."""
        when = "time: measure one tile" if self.seconds is None else f"about {_duration(self.seconds)}"
        return f"{self.tiles} tiles · RAM {_gb(self.ram_bytes)} · device {_gb(self.device_bytes)} · {when}"


def tile_bytes(card: ModelCard, tile: Sequence[int] | None = None) -> int:
    """Working memory of one tile (bytes), from the calibration in the module docstring."""
    return math.prod(model_tile(card, tile)) * (176 + 24 * card.config.decoder_features)


def estimate_run(
    shape: Sequence[int],
    voxel_size: Sequence[float],
    card: ModelCard,
    tile: Sequence[int] | None = None,
    overlap: float = 0.25,
    *,
    views: int | None = None,
    instances: bool = False,
    seconds_per_tile: float | None = None,
    measured_tile_bytes: int | None = None,
) -> Estimate:
    """The estimate for a volume ``shape (Z, Y, X)`` at ``voxel_size`` (z, y, x, um) run by
    ``card``'s model with ``tile``, ``overlap`` and ``views`` as :func:`~.predict.run_model`
    takes them (each view of a tile costs one tile's time)."""
    model_shape = target_shape(shape, voxel_size, card.voxel_size)
    tiles = len(TileGrid(model_shape, model_tile(card, tile), overlap))
    voxels, model_voxels = math.prod(shape), math.prod(model_shape)
    channels_in, channels_out = card.config.in_channels, card.head.channels
    ram = channels_out * voxels * FLOAT
    if model_shape != tuple(shape):  # normalized and resized input, output on the model's grid
        ram += (2 * channels_in + channels_out) * model_voxels * FLOAT
    if card.head.task == "segment":  # uint8 masks, and uint32 instance labels
        ram += channels_out * voxels * (5 if instances else 1)
    elif card.head.task == "classify":  # the class map
        ram += voxels
    weights = total_parameters(card.config, card.head) * FLOAT
    device = weights + (measured_tile_bytes or tile_bytes(card, tile))
    views = card.views if views is None else views
    seconds = None if seconds_per_tile is None else tiles * views * seconds_per_tile
    return Estimate(tiles, ram, device, seconds)


@dataclass(frozen=True)
class TileCost:
    """One tile's ``seconds`` and, on CUDA, its measured working memory ``device_bytes``."""

    seconds: float
    device_bytes: int | None = None


def measure_tile(model, card: ModelCard, tile: Sequence[int] | None = None) -> TileCost:
    """Run one zero tile through ``model`` twice (the first warms up) and time the second."""
    import torch

    weight = next(model.parameters())
    batch = torch.zeros((1, card.config.in_channels, *model_tile(card, tile)), device=weight.device, dtype=weight.dtype)
    cuda = weight.device.type == "cuda"
    with torch.no_grad():
        model(batch)
        if cuda:
            torch.cuda.synchronize(weight.device)
            torch.cuda.reset_peak_memory_stats(weight.device)
            baseline = torch.cuda.memory_allocated(weight.device)
        started = time.perf_counter()
        model(batch)
        if cuda:
            torch.cuda.synchronize(weight.device)
    seconds = time.perf_counter() - started
    used = torch.cuda.max_memory_allocated(weight.device) - baseline if cuda else None
    return TileCost(seconds, used)


def _gb(n: int) -> str:
    return f"{n / 1e9:.2f} GB"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(seconds, 0.1):.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min"
