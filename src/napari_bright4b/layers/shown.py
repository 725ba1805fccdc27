"""What a run gives the viewer: its result, its input, the layers and the per-slice numbers."""

from __future__ import annotations

from dataclasses import dataclass

from ..analysis.slices import SliceStats, slice_stats
from ..inference.job import Result
from .layer_data import LayerInput, result_layers


@dataclass
class Shown:
    """A run's result, its input and what the viewer and the Slices tab get from it."""

    result: Result
    source: LayerInput
    layers: list[tuple]
    stats: SliceStats | None


def present(result: Result, source: LayerInput) -> Shown:
    """Layers and per-slice numbers of ``result`` (in the worker: labels can be large)."""
    names, probabilities, masks = result.class_masks()
    stats = slice_stats(names, probabilities, masks, source.z_um()) if names else None
    return Shown(result, source, result_layers(result, source), stats)
