"""The masked-reconstruction loss on volumes a pretraining run does not train on.

A fixed set of patches of the held-out volumes, each with a fixed random mask (drawn once,
seeded), is scored by :func:`.masking.masked_reconstruction_loss` with the model in eval
mode. Points of the curve differ only by the weights, so a falling curve says the model
still learns something that carries to volumes it never saw.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..trainer import write_loss_log
from .masking import MaskedPatches, masked_reconstruction_loss, volume_patches

PATCHES = 32
EVERY = 100  # steps between points
KIND = "held_out"  # the curve's file: <model stem>.held_out.csv


class HeldOutCurve:
    """``[step, loss]`` points of ``model``'s masked-reconstruction loss on ``PATCHES`` ``tile``
    patches of ``volumes`` ``(C, Z, Y, X)`` (``masking``: the block in voxels and the share
    of blocks hidden, drawn from ``seed``), a point every ``every`` steps; ``points`` are those of an
    earlier run being resumed. Every process measures (a sharded model's forward needs them
    all); with a ``log`` path (rank 0's) the points so far are written there after each one,
    so an interrupted run keeps its curve."""

    def __init__(
        self,
        model: nn.Module,
        volumes: Sequence[np.ndarray],
        tile: Sequence[int],
        masking: tuple[Sequence[int], float],
        seed: int,
        *,
        every: int = EVERY,
        batch_size: int = 2,
        points: Sequence[Sequence[float]] = (),
        log: Path | None = None,
    ):
        sampler = volume_patches(volumes, tile, np.random.default_rng(seed), augment=False)
        self.image, self.target = MaskedPatches(sampler, *masking).batch(PATCHES)
        self.model, self.every, self.batch_size = model, every, batch_size
        self.points = [[int(step), float(loss)] for step, loss in points]
        self.log = log

    @torch.no_grad()
    def measure(self, step: int) -> float:
        """Add the point of ``step``, the loss averaged over the patches, in place of any of
        an interrupted run at ``step`` or later (a resumed run goes back to its checkpoint)."""
        training, device = self.model.training, next(self.model.parameters()).device
        self.model.eval()
        total = 0.0
        for start in range(0, PATCHES, self.batch_size):
            image = self.image[start : start + self.batch_size].to(device)
            target = self.target[start : start + self.batch_size].to(device)
            total += masked_reconstruction_loss(self.model(image).float(), image, target).item() * len(image)
        self.model.train(training)
        self.points = [point for point in self.points if point[0] < step] + [[step, round(total / PATCHES, 6)]]
        if self.log is not None:
            write_loss_log(self.log, self.points, KIND)
        return self.points[-1][1]

    def watching(self, progress: Callable[[int, int, float], None] | None) -> Callable[[int, int, float], None]:
        """The trainer's ``progress`` callback: measure every ``every`` steps, then call ``progress``."""

        def after_step(step: int, total: int, loss: float) -> None:
            if step % self.every == 0:
                self.measure(step)
            if progress is not None:
                progress(step, total, loss)

        return after_step

    def finish(self, step: int) -> list[list[float]]:
        """The points, with the last ``step``'s measured if it is not yet."""
        if not self.points or self.points[-1][0] != step:
            self.measure(step)
        return self.points


def read_curve(model_path: str | Path) -> list[list[float]]:
    """The held-out points written beside ``model_path`` by an earlier run; none if it wrote none."""
    log = Path(model_path).with_name(f"{Path(model_path).stem}.{KIND}.csv")
    if not log.is_file():
        return []
    with open(log, newline="") as f:
        return [[int(row["step"]), float(row["loss"])] for row in csv.DictReader(f)]
