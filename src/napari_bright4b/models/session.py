"""The one place a model is loaded: resolve its name, choose a device, load, release.

Every run (the engine's jobs, inspection, fine-tuning, instant features, Dask workers,
the CLI and the widgets) holds its model in a :class:`ModelSession`.
"""

from __future__ import annotations

import os
import warnings

import torch

from ..errors import BadInputError, Cancelled, OutOfMemory
from .bright4b import Bright4B
from .card import ModelCard
from .checkpoint import build_model, load_checkpoint
from .device import DeviceChoice, resolve_device
from .presets import PRESETS
from .registry import resolve

PRESET_SEED = 0
_EXPECTED = (Cancelled, OutOfMemory, BadInputError)


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


class ModelSession:
    """Model ``spec`` (registry name, ``.safetensors`` path or preset) loaded on the device
    that ``device`` (``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``mps``) resolves to; with
    ``task`` set, a model of another task is refused. ``device_note`` says why the device
    differs from the one asked for, if it does.

    Use it as a context manager: leaving the block releases the model (and a GPU's cached
    memory), also when the block raised. A cancelled run, an out-of-memory tile or bad
    input leaves without its traceback, whose frames would keep the model alive.
    """

    def __init__(
        self,
        spec: str | os.PathLike,
        device: str = "auto",
        *,
        task: str | None = None,
        dtype: torch.dtype | None = None,
        quiet: bool = True,
    ):
        self.spec = spec
        self.choice: DeviceChoice = resolve_device(device)
        self.model, self.card = load_model(spec, self.choice.device, dtype, quiet)
        if task is not None and self.card.head.task != task:
            self.release()
            raise BadInputError(f"model {spec!r} is a {self.card.head.task} model, not a {task} model")

    @property
    def device(self) -> torch.device:
        return self.choice.device

    @property
    def device_note(self) -> str | None:
        return self.choice.note

    def release(self) -> None:
        """Drop the model and hand a GPU's cached memory back; the session is spent."""
        self.model = None
        if self.choice.device.type == "cuda":
            torch.cuda.empty_cache()

    def __enter__(self) -> ModelSession:
        return self

    def __exit__(self, kind, error, traceback) -> None:
        if isinstance(error, _EXPECTED):
            chained = error
            while chained is not None:  # e.g. torch's own out-of-memory error behind OutOfMemory
                chained.with_traceback(None)
                chained = chained.__cause__ or chained.__context__
        self.release()
