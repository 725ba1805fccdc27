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

PRESET_SEED = 0


class PresetWarning(UserWarning):
    """A preset was loaded: its weights are random."""


def load_model(
    spec: str | os.PathLike,
    device: str | torch.device = "cpu",
    dtype: torch.dtype | None = None,
    quiet: bool = False,
) -> tuple[Bright4B, ModelCard]:
    """Load a model by registry name, checkpoint path or preset name.

    A preset gives random weights (for testing and benchmarking), the same in every
    process (seeded), and warns with :class:`PresetWarning` unless ``quiet``.
    Returns the model in eval mode and its card.
    """
    entry = resolve(spec)
    if entry.is_preset:
        if not quiet:
            warnings.warn(f"{entry.name!r} is a preset: the model has random weights", PresetWarning, stacklevel=2)
        preset = PRESETS[entry.name]
        card = ModelCard(name=entry.name, config=preset.config, head=preset.head, description=preset.summary)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(PRESET_SEED)
            return build_model(card, "cpu", dtype).to(device).eval(), card
    return load_checkpoint(entry.path, device, dtype)
