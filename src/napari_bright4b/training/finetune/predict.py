"""A fine-tuned model over a whole volume, through the inference engine."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ...analysis.uncertainty import normalized_entropy
from ...inference.engine import CancelToken, Progress
from ...inference.predict import run_model
from .run import FinetuneResult


@dataclass(frozen=True)
class Prediction:
    """A fine-tuned model over a whole volume: ``labels (Z, Y, X)`` painted values of the most
    probable class (0 = background) and ``uncertainty (Z, Y, X)``, the normalized entropy of
    the class probabilities in [0, 1] (1 = all classes equally likely: paint there)."""

    labels: np.ndarray
    uncertainty: np.ndarray


def predict_painted(
    result: FinetuneResult,
    image: np.ndarray,
    voxel_size: Sequence[float],
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> Prediction:
    """The fine-tuned model of ``result`` over ``image (C, Z, Y, X)``, through the engine."""
    probabilities = run_model(result.model, result.card, image, voxel_size, progress=progress, cancel=cancel)
    return Prediction(result.classes.to_painted(probabilities.argmax(0)), normalized_entropy(probabilities))
