"""The organelle model's card, training examples and held-out evaluation.

``bright4b-nano-organelles``: the ``nano`` preset with a sigmoid head for nuclei,
nucleoli and mitochondria, trained on simulated brightfield colonies imaged at the Allen
Cell voxel size and resampled to the model's voxel size, exactly as the inference
engine resamples a user's image.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from ..analysis.metrics import segmentation_metrics
from ..data.synthetic.brightfield import ALLEN_VOXEL_SIZE, STRUCTURES, BrightfieldSample, simulate_brightfield
from ..inference.normalize import percentile_normalize
from ..inference.predict import run_model
from ..inference.resample import resize, target_shape
from ..models.bright4b import Bright4B
from ..models.card import ModelCard
from ..models.config import PRESETS, HeadConfig
from .patches import Example

ORGANELLES = "bright4b-nano-organelles"
ORGANELLES_VOXEL_SIZE = (0.29, 0.216, 0.216)
SIMULATED_SHAPE = (40, 256, 256)  # at the Allen voxel size: 11.6 x 27.6 x 27.6 um
TRAIN_SEEDS = tuple(range(1000, 1016))
HELD_OUT_SEEDS = tuple(range(9000, 9003))
PATCH = (32, 64, 64)  # training patch = the card's inference tile (NSA's block context must match)


def organelles_card() -> ModelCard:
    preset = PRESETS["nano"]
    return ModelCard(
        name=ORGANELLES,
        config=preset.config,
        head=HeadConfig("segment", STRUCTURES, "sigmoid"),
        voxel_size=ORGANELLES_VOXEL_SIZE,
        modality="brightfield",
        tile=PATCH,
        description="Nuclei, nucleoli and mitochondria from 3D brightfield (hiPSC colonies); "
        "trained on simulated data only",
        provenance={
            "recipe": "organelles",
            "command": "bright4b train organelles -o bright4b-nano-organelles.safetensors",
            "data": f"simulate_brightfield seeds {TRAIN_SEEDS[0]}-{TRAIN_SEEDS[-1]}, {SIMULATED_SHAPE} "
            f"at {ALLEN_VOXEL_SIZE} um",
        },
    )


def brightfield_example(seed: int, shape: Sequence[int] = SIMULATED_SHAPE) -> Example:
    """One simulated colony, normalized by the card's percentiles and resampled to the
    model's voxel size; masks resampled linearly and cut at 0.5."""
    sample = simulate_brightfield(shape, ALLEN_VOXEL_SIZE, seed)
    card = organelles_card()
    grid = target_shape(shape, ALLEN_VOXEL_SIZE, card.voxel_size)
    image = resize(percentile_normalize(sample.image[None], **card.normalization), grid)
    masks = resize(sample.masks().astype(np.float32), grid) >= 0.5
    return Example(image, masks.astype(np.uint8))


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


def mean_scores(runs: list[dict], seeds: Iterable[int]) -> dict:
    """Per-volume ``{structure: metrics}`` -> the card's held-out record: each metric's mean."""
    structures = {
        name: {metric: round(float(np.mean([r[name][metric] for r in runs])), 4) for metric in runs[0][name]}
        for name in runs[0]
    }
    return {"held_out_seeds": list(seeds), "threshold": THRESHOLD, "structures": structures}


def evaluate_organelles(model: Bright4B, card: ModelCard, seeds: Iterable[int]) -> dict:
    """Mean metrics per structure over simulated colonies of ``seeds`` (at the Allen voxel size)."""
    seeds = list(seeds)
    runs = [score_sample(model, card, simulate_brightfield(SIMULATED_SHAPE, ALLEN_VOXEL_SIZE, s))[1] for s in seeds]
    return mean_scores(runs, seeds)
