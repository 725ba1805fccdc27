"""What a deep fine-tune is asked to do (:class:`FinetuneSettings`), and the trainer's
schedule that follows from it (:func:`train_settings`)."""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass

from ...errors import BadInputError
from ..trainer import TrainSettings
from .modes import DEFAULT_NETWORK_MODE, NETWORK_MODES

STEP_LIMIT = 10**9  # the step "count" of a run limited by its time budget only


@dataclass(frozen=True)
class FinetuneSettings:
    """``mode``: ``head``, ``adapter`` or ``full`` (:mod:`.adaptation`); training stops at
    ``time_budget_s`` seconds (the whole fine-tune, preparation included) or ``steps``,
    whichever comes first (at least one of them). ``prior_correction``: train against the
    image's class frequencies rather than the strokes' (:mod:`.priors`). ``teacher``: also
    train on the instant classifier's sure voxels (:mod:`.teacher`). ``adapt_s``: first train
    that many seconds by masked reconstruction of the whole image, unlabeled
    (:mod:`.image_adaptation`; 0: not at all) at ``adapt_learning_rate``, before the budget
    for the strokes starts; ``adapt_ema_teacher``: with an EMA teacher that holds the token
    states near the base's.

    The defaults were chosen on simulated colonies (benchmarks/fewshot.py, docs/finetune.md):
    ``full`` at a peak rate of 2e-4 kept improving nuclei and nucleoli over 150 steps, where
    ``head`` and ``adapter`` (and higher rates) lost the nucleoli after 50-100 steps; the
    prior correction raised nuclei Dice by 0.04 there."""

    mode: str = DEFAULT_NETWORK_MODE
    time_budget_s: float | None = 60.0
    steps: int | None = None
    batch_size: int = 2
    learning_rate: float = 2e-4
    rank: int = 4
    held_out_share: float = 0.2
    evaluate_every: int = 10
    preview_every_s: float = 5.0
    warmup: int = 10
    foreground_share: float = 0.8
    scale: float = 0.15
    prior_correction: bool = True
    teacher: bool = False
    adapt_s: float = 0.0
    adapt_learning_rate: float = 2e-5
    adapt_ema_teacher: bool = False
    seed: int = 0

    def __post_init__(self):
        if self.mode not in NETWORK_MODES:
            hint = " (instant mode is training.finetune.instant.instant_segment)" if self.mode == "instant" else ""
            raise BadInputError(f"unknown fine-tuning mode {self.mode!r}; use one of {', '.join(NETWORK_MODES)}{hint}")
        budget = self.time_budget_s
        if budget is not None and not (math.isfinite(budget) and budget > 0):
            raise BadInputError(f"the time budget must be a positive number of seconds, got {budget}")
        if not (math.isfinite(self.adapt_s) and self.adapt_s >= 0):
            raise BadInputError(f"the adaptation time must be zero or more seconds, got {self.adapt_s}")
        if self.steps is not None and self.steps < 1:
            raise BadInputError(f"the step count must be at least 1, got {self.steps}")
        for name in ("learning_rate", "adapt_learning_rate"):
            if not getattr(self, name) > 0:
                raise BadInputError(f"the {name.replace('_', ' ')} must be positive, got {getattr(self, name)}")
        if budget is None and self.steps is None:
            raise BadInputError("give a time budget, a step count or both")


DEFAULT_SETTINGS = FinetuneSettings()


def train_settings(settings: FinetuneSettings, started: float) -> TrainSettings:
    """The trainer's schedule for ``settings``: no checkpoints, and what is left of the time
    budget (seconds) since ``started`` (a ``time.perf_counter()`` reading), at least 1 ms."""
    budget = settings.time_budget_s
    return TrainSettings(
        steps=settings.steps or STEP_LIMIT,
        batch_size=settings.batch_size,
        learning_rate=settings.learning_rate,
        warmup=settings.warmup,
        checkpoint_every=STEP_LIMIT,
        time_budget_s=None if budget is None else max(1e-3, budget - (time.perf_counter() - started)),
        seed=settings.seed,
    )


def adaptation_settings(settings: FinetuneSettings) -> TrainSettings:
    """The trainer's schedule for the image adaptation (:mod:`.image_adaptation`): the
    fine-tune's batch and warm-up at ``settings.adapt_learning_rate`` for ``settings.adapt_s``
    seconds, no checkpoints."""
    schedule = train_settings(settings, time.perf_counter())
    return dataclasses.replace(
        schedule, steps=STEP_LIMIT, time_budget_s=settings.adapt_s, learning_rate=settings.adapt_learning_rate
    )
