"""Correcting fine-tuning for how often each class is painted (logit adjustment).

A person paints a few strokes per class, so among painted voxels the classes are far more
even than in the image (on simulated colonies nuclei are ~30% of the strokes and ~5% of the
volume). Trained on the strokes as they are, a model takes their frequencies for its prior
and grows the rarer classes into the unpainted space around them. As in logit adjustment
(Menon et al., ICLR 2021), the loss sees ``logits + log(prior_strokes / prior_image)``,
so the model's own logits, used at inference, keep the image's prior. The image's prior is
the base model's (its warm-started head's) mean class probability on random crops; classes
the base does not know are left uncorrected.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ...inference.crops import CROPS, random_crops
from .held_out import eval_logits

FLOOR = 1e-4  # the smallest frequency a log is taken of


def stroke_prior(codes: np.ndarray, classes: int) -> np.ndarray:
    """Share of painted voxels per class ``(K,)`` from stroke ``codes (Z, Y, X)`` (0 = not
    painted, ``k + 1`` = class ``k``)."""
    counts = np.bincount(codes.ravel(), minlength=classes + 1)[1 : classes + 1]
    return counts / max(counts.sum(), 1)


def image_prior(
    model: torch.nn.Module, image: np.ndarray, size: Sequence[int], rng: np.random.Generator, crops: int = CROPS
) -> np.ndarray:
    """Mean softmax probability per class ``(K,)`` of ``model`` on ``crops`` random crops of
    ``size`` from ``image (C, Z, Y, X)`` (model grid, normalized)."""
    logits = eval_logits(model, random_crops(image, size, rng, crops), batch_size=crops)
    return torch.softmax(logits, 1).mean((0, *range(2, logits.ndim))).numpy()


def prior_shift(strokes: np.ndarray, image: np.ndarray, known: Sequence[bool]) -> np.ndarray:
    """``log(strokes / image)`` per class ``(K,)``, 0 for the classes not ``known``; added
    to the logits in the training loss."""
    shift = np.log(np.maximum(strokes, FLOOR)) - np.log(np.maximum(image, FLOOR))
    return np.where(known, shift, 0.0).astype(np.float32)
