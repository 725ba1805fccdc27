"""Scoring a fine-tuned model on painted strokes it did not train on.

The strokes are covered by a few model-sized crops (one per stroke, largest first, skipping
strokes an earlier crop already holds); the score is the balanced accuracy on their painted
voxels, the mean over classes of the share of each class's painted voxels whose most
probable class is the painted one, and the training loss on them. A fine-tune keeps the
earliest state that no later one beats by more than ``SAME_ACCURACY`` of balanced
accuracy: the least departure from the base that does as well on the strokes. Strokes lie
well inside objects, so training on past that point moves the unpainted boundaries (on
simulated colonies nuclei grew by 40% in volume from step 20 to 150 while the held-out
accuracy stayed within 0.01), and the held-out loss keeps falling as the model grows sure of
itself, so it cannot tell when to stop either.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage

from ..losses import painted_loss

MAX_CROPS = 6
SAME_ACCURACY = 0.01


@dataclass(frozen=True)
class Score:
    loss: float
    balanced_accuracy: float

    def better_than(self, other: Score) -> bool:
        """Balanced accuracy higher by more than ``SAME_ACCURACY`` (a stroke voxel or two)."""
        return self.balanced_accuracy > other.balanced_accuracy + SAME_ACCURACY


def stroke_crops(codes: np.ndarray, size: Sequence[int], limit: int = MAX_CROPS) -> list[tuple[slice, ...]]:
    """At most ``limit`` crops of ``size`` (clipped to the volume) inside ``codes (Z, Y, X)``,
    centred on its strokes (3D connected components of painted voxels), largest first."""
    size = tuple(min(s, n) for s, n in zip(size, codes.shape))
    components, count = ndimage.label(codes > 0)
    boxes = ndimage.find_objects(components)
    sizes = np.bincount(components.ravel(), minlength=count + 1)[1:]
    covered = np.zeros(codes.shape, bool)
    crops = []
    for index in np.argsort(-sizes, kind="stable"):
        box = boxes[index]
        if covered[box][components[box] == index + 1].all():
            continue
        centre = [(s.start + s.stop) // 2 for s in box]
        corner = [int(np.clip(c - p // 2, 0, n - p)) for c, p, n in zip(centre, size, codes.shape)]
        crop = tuple(slice(c, c + p) for c, p in zip(corner, size))
        covered[crop] = True
        crops.append(crop)
        if len(crops) == limit:
            break
    return crops


class StrokeScorer:
    """Scores a model on the painted ``codes (Z, Y, X)`` of ``image (C, Z, Y, X)`` (model grid,
    normalized), in crops of ``size`` run ``batch_size`` at a time."""

    def __init__(self, image: np.ndarray, codes: np.ndarray, classes: int, size: Sequence[int], batch_size: int = 2):
        crops = stroke_crops(codes, size)
        self.images = torch.from_numpy(np.stack([image[(slice(None), *c)] for c in crops]))
        self.codes = torch.from_numpy(np.stack([codes[c][None] for c in crops]).astype(np.int64))
        self.classes, self.batch_size = classes, batch_size

    def __call__(self, model: torch.nn.Module) -> Score:
        logits = eval_logits(model, self.images, self.batch_size)
        loss = float(painted_loss(logits, self.codes))
        painted = self.codes[:, 0] > 0
        truth, found = self.codes[:, 0][painted] - 1, logits.argmax(1)[painted]
        recalls = [float((found[truth == c] == c).float().mean()) for c in range(self.classes) if (truth == c).any()]
        return Score(loss, float(np.mean(recalls)))


@torch.no_grad()
def eval_logits(model: torch.nn.Module, images: torch.Tensor, batch_size: int) -> torch.Tensor:
    """``model``'s float32 CPU output on ``images (N, C, Z, Y, X)``, ``batch_size`` at a time, in
    eval mode (the model's mode is restored afterwards)."""
    weight = next(model.parameters())
    was_training = model.training
    model.eval()
    try:
        return torch.cat(
            [model(b.to(device=weight.device, dtype=weight.dtype)).float().cpu() for b in images.split(batch_size)]
        )
    finally:
        model.train(was_training)
