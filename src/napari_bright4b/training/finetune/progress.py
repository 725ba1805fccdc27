"""What a deep fine-tune tells while it trains: a :class:`Report` after every step, the
held-out score every ``evaluate_every`` steps (the best state kept, :class:`BestState`) and
now and then a :class:`Preview` of the model's classes (:class:`Previewer`)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from ...inference.normalize import percentile_range
from ...inference.predict import run_model
from .adaptation import restore_trainable_state, trainable_state
from .held_out import Score, StrokeScorer
from .settings import FinetuneSettings


@dataclass(frozen=True)
class Preview:
    """The fine-tuned model's classes on a slab of the input: ``labels (dz, Y, X)`` painted
    values (0 = background) for input slices ``z``."""

    z: slice
    labels: np.ndarray


@dataclass(frozen=True)
class Report:
    """News after one training step. ``steps`` is the step limit (``None``: the budget
    limits); ``held_out`` the step's held-out score if it was scored; ``best`` the best
    score so far, reached at ``best_step``."""

    step: int
    steps: int | None
    seconds: float
    budget_s: float | None
    loss: float
    held_out: Score | None
    best: Score | None
    best_step: int
    preview: Preview | None = None


class BestState:
    """Scores ``model`` on request and keeps a copy of its best trainable state."""

    def __init__(self, model: torch.nn.Module, scorer: StrokeScorer):
        self.model, self.scorer = model, scorer
        self.best: Score | None = None
        self.best_step, self.state = 0, None
        self.scores: list[list[float]] = []

    def score(self, step: int) -> Score:
        score = self.scorer(self.model)
        self.scores.append([step, round(score.loss, 5), round(score.balanced_accuracy, 4)])
        if self.best is None or score.better_than(self.best):
            self.best, self.best_step, self.state = score, step, trainable_state(self.model)
        return score

    def restore(self) -> None:
        restore_trainable_state(self.model, self.state)


class Previewer:
    """Every ``every_s`` seconds, the model's classes on the slab of the input around the
    slice ``z()`` asks for: as deep as the model's tile, across the whole plane."""

    def __init__(self, model, card, classes, image, voxel_size, z: Callable[[], int | None] | None, every_s: float):
        self.model, self.card, self.classes, self.image, self.voxel_size = model, card, classes, image, voxel_size
        self.z, self.every_s, self.last = z, every_s, time.perf_counter()
        self.range = percentile_range(image, card.normalization["low"], card.normalization["high"]) if z else None

    def due(self) -> Preview | None:
        if self.z is None or time.perf_counter() - self.last < self.every_s:
            return None
        centre = self.z()
        if centre is None:
            return None
        depth = self.image.shape[1]
        slab = min(depth, math.ceil(self.card.tile[0] * self.card.voxel_size[0] / self.voxel_size[0]))
        start = int(np.clip(centre - slab // 2, 0, depth - slab))
        z = slice(start, start + slab)
        self.model.eval()
        probabilities = run_model(  # a quick look: one view, no overlap
            self.model, self.card, self.image[:, z], self.voxel_size, overlap=0.0, views=1, intensity_range=self.range
        )
        self.model.train()
        self.last = time.perf_counter()
        return Preview(z, self.classes.to_painted(probabilities.argmax(0)))


def reporter(
    settings: FinetuneSettings,
    started: float,
    track: BestState,
    previewer: Previewer,
    progress: Callable[[Report], None] | None,
) -> Callable[[int, int, float], None]:
    """The trainer's ``progress(step, total, loss)``: scores every ``settings.evaluate_every``
    steps, then hands ``progress`` a :class:`Report` (seconds since ``started``, a
    ``time.perf_counter()`` reading) with a preview when one is due."""

    def on_step(step: int, total: int, loss: float) -> None:
        score = track.score(step) if step % settings.evaluate_every == 0 else None
        report = Report(
            step,
            settings.steps,
            time.perf_counter() - started,
            settings.time_budget_s,
            loss,
            score,
            track.best,
            track.best_step,
            previewer.due(),
        )
        if progress is not None:
            progress(report)

    return on_step
