"""Where a fine-tuned model is saved (never over the base or the bundled models) and what
its card records of how it was made."""

from __future__ import annotations

import dataclasses
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

from ... import __version__
from ...errors import BadInputError
from ...models.card import ModelCard
from ...models.registry import BUNDLED_DIR, SUFFIX, user_models_dir
from ..trainer import TrainResult
from .painted import PaintedClasses
from .progress import BestState
from .settings import FinetuneSettings


def default_output(base_name: str) -> Path:
    """A new file in the user's model folder: ``<base>-ft-<UTC time>[-n].safetensors``."""
    stem = f"{base_name}-ft-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}"
    folder, path, n = user_models_dir(), None, 1
    while path is None or path.exists():
        path = folder / f"{stem}{'' if n == 1 else f'-{n}'}{SUFFIX}"
        n += 1
    return path


def check_output(out: Path, base_path: Path | None) -> Path:
    """Refuse an output that is not a ``.safetensors`` file, is the base model, or lies
    among the bundled models."""
    if out.suffix != SUFFIX:
        raise BadInputError(f"the fine-tuned model must be a {SUFFIX} file, got {out.name}")
    if base_path is not None and out.resolve() == base_path.resolve():
        raise BadInputError(f"{out} is the base model; the base is never overwritten: choose another output")
    if out.resolve().parent == BUNDLED_DIR.resolve():
        raise BadInputError(f"{out.parent} holds the bundled models; write the fine-tuned model elsewhere")
    return out


def finetuned_card(
    card: ModelCard,
    base_card: ModelCard,
    base_source: str,
    settings: FinetuneSettings,
    classes: PaintedClasses,
    trained: TrainResult,
    track: BestState,
    shift: torch.Tensor,
    parts: dict[str, str],
    scored_on: str,
    cancelled: bool,
    started: float,
) -> ModelCard:
    """``card`` as saved: a description, no metrics, and a provenance recording the base, the
    strokes, the loss's prior ``shift`` ``(1, K, 1, 1, 1)``, the nested ``parts``, how training
    went and the seconds since ``started`` (a ``time.perf_counter()`` reading)."""
    provenance = {
        "recipe": "finetune",
        "base_model": base_card.name,
        "base_source": base_source,
        "mode": settings.mode,
        "painted_values": dict(zip(classes.names, classes.values)),
        "painted_voxels": classes.painted_voxels(),
        "steps": trained.steps,
        "best_step": track.best_step,
        "final_loss": trained.losses[-1][1],
        "best_held_out": {
            "loss": round(track.best.loss, 5),
            "balanced_accuracy": round(track.best.balanced_accuracy, 4),
        },
        "prior_shift": {n: round(float(v), 3) for n, v in zip(classes.names, shift.flatten())},
        "nested_parts": parts,
        "scored_on": scored_on,
        "train_seconds": round(trained.seconds, 1),
        "seconds": round(time.perf_counter() - started, 1),
        "cancelled": cancelled,
        "settings": dataclasses.asdict(settings),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "bright4b": __version__,
        "torch": torch.__version__,
    }
    description = f"{base_card.name} fine-tuned ({settings.mode}) on strokes painted for {', '.join(classes.names[1:])}"
    return dataclasses.replace(card, description=description, provenance=provenance, metrics={})
