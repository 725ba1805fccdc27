"""Held-out evaluation of segmentation models on simulated brightfield volumes."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ..analysis.metrics import segmentation_metrics
from ..data.synthetic.brightfield import ALLEN_VOXEL_SIZE, BrightfieldSample, simulate_brightfield
from ..inference.predict import run_model
from ..models.bright4b import Bright4B
from ..models.card import ModelCard

THRESHOLD = 0.5


def score_sample(model: Bright4B, card: ModelCard, sample: BrightfieldSample) -> tuple[np.ndarray, dict]:
    """Probabilities ``(K, Z, Y, X)`` for ``sample`` and the metrics of each structure at 0.5."""
    probabilities = run_model(model, card, sample.image[None], voxel_size=sample.voxel_size)
    truth = sample.masks()
    scores = {
        name: segmentation_metrics(probabilities[k] >= THRESHOLD, truth[k] > 0, sample.voxel_size)
        for k, name in enumerate(card.head.class_names)
    }
    return probabilities, scores


def evaluate_on_simulations(model: Bright4B, card: ModelCard, seeds: Iterable[int], shape) -> dict:
    """Mean metrics per structure over simulated volumes of ``seeds`` (at the Allen voxel size)."""
    runs = [score_sample(model, card, simulate_brightfield(shape, ALLEN_VOXEL_SIZE, s))[1] for s in seeds]
    return {
        name: {metric: round(float(np.mean([r[name][metric] for r in runs])), 4) for metric in runs[0][name]}
        for name in card.head.class_names
    }
