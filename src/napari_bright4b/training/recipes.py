"""Recipes that train the bundled models from simulated data, one command each.

``bright4b train organelles -o OUT.safetensors`` reproduces
``bright4b-nano-organelles`` (docs/models.md): the ``nano`` preset with a sigmoid head
for nuclei, nucleoli and mitochondria, trained on simulated brightfield colonies imaged
at the Allen Cell voxel size and resampled to the model's voxel size, exactly as the
inference engine resamples a user's image.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from ..data.synthetic.brightfield import ALLEN_VOXEL_SIZE, STRUCTURES, simulate_brightfield
from ..inference.normalize import percentile_normalize
from ..inference.resample import resize, target_shape
from ..models.card import ModelCard
from ..models.config import PRESETS, HeadConfig
from .patches import Example

ORGANELLES = "bright4b-nano-organelles"
ORGANELLES_VOXEL_SIZE = (0.29, 0.216, 0.216)
SIMULATED_SHAPE = (40, 256, 256)  # at the Allen voxel size: 11.6 x 27.6 x 27.6 um
TRAIN_SEEDS = tuple(range(1000, 1016))
HELD_OUT_SEEDS = tuple(range(9000, 9003))
PATCH = (32, 64, 64)


@dataclass(frozen=True)
class Recipe:
    name: str
    card: Callable[[], ModelCard]
    examples: Callable[[Iterable[int]], list[Example]]
    train_seeds: Sequence[int]
    held_out_seeds: Sequence[int]
    patch: tuple[int, int, int]


def organelles_card() -> ModelCard:
    preset = PRESETS["nano"]
    return ModelCard(
        name=ORGANELLES,
        config=preset.config,
        head=HeadConfig("segment", STRUCTURES, "sigmoid"),
        voxel_size=ORGANELLES_VOXEL_SIZE,
        modality="brightfield",
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


RECIPES = {
    "organelles": Recipe(
        "organelles",
        organelles_card,
        lambda seeds: [brightfield_example(s) for s in seeds],
        TRAIN_SEEDS,
        HELD_OUT_SEEDS,
        PATCH,
    ),
}
