"""The Python API: the same functions the CLI and the napari widgets call."""

from __future__ import annotations

import os
import warnings

import torch

from .models.bright4b import Bright4B
from .models.card import ModelCard
from .models.checkpoint import build_model, load_checkpoint
from .models.config import PRESETS
from .models.registry import resolve


def load_model(
    spec: str | os.PathLike, device: str | torch.device = "cpu", dtype: torch.dtype | None = None
) -> tuple[Bright4B, ModelCard]:
    """Load a model by registry name, checkpoint path or preset name.

    A preset gives random weights (for testing and benchmarking) and warns.
    Returns the model in eval mode and its card.
    """
    entry = resolve(spec)
    if entry.is_preset:
        warnings.warn(f"{entry.name!r} is a preset: the model has random weights", stacklevel=2)
        preset = PRESETS[entry.name]
        card = ModelCard(name=entry.name, config=preset.config, head=preset.head, description=preset.summary)
        return build_model(card, device, dtype).eval(), card
    return load_checkpoint(entry.path, device, dtype)
