"""A model card as rows of text for a model picker: what the model does, at which voxel size,
how big it is, where it came from and how well it did."""

from __future__ import annotations

from typing import Any

from ..models.card import ModelCard
from ..models.config import total_parameters


def card_rows(card: ModelCard) -> list[tuple[str, str]]:
    """``(field, text)`` rows: task, classes, modality, voxel size (um), tile, views, parameters, then
    one row per provenance and metrics entry (nested entries as ``key value`` pairs)."""
    z, y, x = card.voxel_size
    rows = [
        ("task", f"{card.head.task} ({card.head.activation})"),
        ("classes", ", ".join(card.head.class_names)),
        ("modality", card.modality),
        ("voxel size", f"{z:g} x {y:g} x {x:g} um (z, y, x)"),
        ("tile", " x ".join(map(str, card.tile)) + " voxels"),
        ("views", f"{card.views} per tile (y-x mirrors and quarter turns averaged)"),
        ("parameters", f"{total_parameters(card.config, card.head):,}"),
    ]
    if card.description:
        rows.insert(0, ("description", card.description))
    rows += [(f"provenance: {key}", _text(value)) for key, value in card.provenance.items()]
    for key, value in card.metrics.items():
        if isinstance(value, dict) and all(isinstance(v, dict) for v in value.values()):
            rows += [(f"metrics: {key}: {name}", _text(entry)) for name, entry in value.items()]
        else:
            rows.append((f"metrics: {key}", _text(value)))
    return rows


def _text(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {_text(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return f"{len(value)} values" if len(value) > 6 else ", ".join(_text(v) for v in value)
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
