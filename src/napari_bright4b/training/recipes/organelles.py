"""The organelle models' cards, training examples and held-out evaluation.

The ``nano`` preset with the ``pyramid`` decoder stem and a sigmoid head for nuclei,
nucleoli and mitochondria, trained on simulated brightfield colonies resampled to the
model's voxel size, exactly as the inference engine resamples a user's image. The bundled
``bright4b-nano-organelles`` is made in three stages: ``bright4b-nano-organelles-classic``
(the classic simulator's colonies at the Allen Cell voxel size), then
``bright4b-nano-organelles-broad`` with those colonies and twice as many drawn from the
randomized imaging ranges (``broad``), then the same colonies in larger batches.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

import numpy as np

from ...analysis.metrics import segmentation_metrics
from ...data.synthetic.brightfield import ALLEN_VOXEL_SIZE, STRUCTURES, BrightfieldSample, simulate_brightfield
from ...data.synthetic.brightfield_ranges import RANGES, draw_conditions
from ...inference.normalize import percentile_normalize
from ...inference.postprocess import class_thresholds, masks
from ...inference.predict import run_model
from ...inference.resample import resize, target_shape
from ...models.bright4b import Bright4B
from ...models.card import ModelCard
from ...models.config import HeadConfig
from ...models.presets import PRESETS
from ..patches import Example
from .naming import STARTS_FROM, recipe_command

ORGANELLES = "bright4b-nano-organelles"
ORGANELLES_VOXEL_SIZE = (0.29, 0.216, 0.216)
SIMULATED_SHAPE = (40, 256, 256)  # at the Allen voxel size: 11.6 x 27.6 x 27.6 um
TRAIN_SEEDS = tuple(range(1000, 1048))
RANDOMIZED_TRAIN_SEEDS = tuple(range(1000, 1096))  # twice as many: a far wider space
# the classic colonies (one corner of the space) and as many again per corner's worth of
# randomized ones: classic seeds are TRAIN_SEEDS, the rest are drawn from the training ranges
BROAD_TRAIN_SEEDS = TRAIN_SEEDS + tuple(range(1048, 1144))
CONDITIONS = ("classic", "training", "held-out-low-na")  # scored apart (brightfield_ranges)
# held out by the microscope's contrast, not its optics: scored by benchmarks/organelles_transfer.py
CONTRAST_CONDITIONS = ("held-out-dic", "held-out-phase")
# colonies per randomized condition, twice the classic ones (they differ far more)
RANDOMIZED_HELD_OUT_SEEDS = tuple(range(9000, 9006))
HELD_OUT_SEEDS = tuple(range(9000, 9003))
PATCH = (32, 64, 64)  # training patch = the card's inference tile (NSA's block context must match)
# the bundled model's routing (docs/inspect.md): routers that also read the decoder stem
# under each token, a load term ten times the preset's and a light confidence term, ramped
# in by the recipe's routing supervision (catalog.py)
BROAD_ROUTING = {"router_context": True, "balance_weight": 0.1, "routing_confidence": 0.1}


def organelles_card(ranges: str = "classic", recipe: str | None = None) -> ModelCard:
    """The organelle model's card: trained on the ``classic`` simulator
    (``bright4b-nano-organelles-classic``), on the ``training`` ranges of
    :mod:`~...data.synthetic.brightfield_ranges` (randomized minus the held-out low NA), or,
    going on from the classic model, on ``broad``: the classic colonies and twice as many
    from the training ranges, routed by :data:`BROAD_ROUTING` (``organelles-broad``, then in
    larger batches the bundled ``bright4b-nano-organelles``); ``recipe`` names a ``broad``
    card, else it is the bundled model's."""
    # convolutions at half and quarter resolution: held-out nuclei Dice 0.49 -> 0.69 after
    # 800 steps, at the same step cost (docs/models.md)
    config = dataclasses.replace(PRESETS["nano"].config, decoder_stem="pyramid")
    if ranges == "classic":
        name, seeds = f"{ORGANELLES}-classic", TRAIN_SEEDS
        data = f"{SIMULATED_SHAPE} at {ALLEN_VOXEL_SIZE} um"
    elif ranges == "broad":
        name, seeds = f"bright4b-nano-{recipe}" if recipe else ORGANELLES, BROAD_TRAIN_SEEDS
        config = dataclasses.replace(config, **BROAD_ROUTING)
        data = (
            f"seeds {TRAIN_SEEDS[0]}-{TRAIN_SEEDS[-1]} classic {SIMULATED_SHAPE} at {ALLEN_VOXEL_SIZE} um, the rest "
            "drawn from the 'training' ranges (data/synthetic/brightfield_ranges.py)"
        )
    else:
        name, seeds = f"{ORGANELLES}-randomized", RANDOMIZED_TRAIN_SEEDS
        data = f"imaging and colonies drawn from the {ranges!r} ranges (data/synthetic/brightfield_ranges.py)"
    recipe = name.removeprefix("bright4b-nano-")
    return ModelCard(
        name=name,
        config=config,
        head=HeadConfig("segment", STRUCTURES, "sigmoid"),
        voxel_size=ORGANELLES_VOXEL_SIZE,
        modality="brightfield",
        tile=PATCH,
        views=8,  # each tile's 8 y-x mirrors and quarter turns averaged, as the light-sheet models
        description="Nuclei, nucleoli and mitochondria from 3D brightfield (hiPSC colonies); trained on simulated "
        "data only" + (", from one simulator" if ranges == "classic" else ", its imaging drawn from wide ranges"),
        provenance={
            "recipe": recipe,
            "command": recipe_command(recipe, name, STARTS_FROM.get(recipe)),
            "data": f"simulate_brightfield seeds {seeds[0]}-{seeds[-1]}, {data}",
        },
    )


def colony(seed: int, ranges: str = "classic") -> BrightfieldSample:
    """Colony ``seed`` of the classic simulator (at the Allen voxel size) or with its imaging
    and biology drawn from ``RANGES[ranges]`` (at a voxel size of its own)."""
    if ranges == "classic":
        return simulate_brightfield(SIMULATED_SHAPE, ALLEN_VOXEL_SIZE, seed)
    drawn = draw_conditions(RANGES[ranges], seed)
    return simulate_brightfield(drawn.shape, drawn.voxel_size, seed, overrides=drawn.optics, colony=drawn.colony)


def training_example(sample: BrightfieldSample) -> Example:
    """``sample`` normalized by the card's percentiles and resampled to the model's voxel
    size; masks resampled linearly and cut at 0.5."""
    card = organelles_card()
    grid = target_shape(sample.image.shape, sample.voxel_size, card.voxel_size)
    image = resize(percentile_normalize(sample.image[None], **card.normalization), grid)
    masks = resize(sample.masks().astype(np.float32), grid) >= 0.5
    return Example(image, masks.astype(np.uint8))


def brightfield_example(seed: int, shape: Sequence[int] = SIMULATED_SHAPE) -> Example:
    """One colony of the classic simulator at the Allen voxel size, as :func:`training_example`."""
    return training_example(simulate_brightfield(shape, ALLEN_VOXEL_SIZE, seed))


def randomized_example(seed: int) -> Example:
    """One colony drawn from the ``training`` ranges, as :func:`training_example`."""
    return training_example(colony(seed, "training"))


def broad_example(seed: int) -> Example:
    """A classic colony for the classic training seeds, else one drawn from the ``training``
    ranges (:data:`BROAD_TRAIN_SEEDS`)."""
    return brightfield_example(seed) if seed in TRAIN_SEEDS else randomized_example(seed)


CALIBRATION_SEEDS = TRAIN_SEEDS[:3]
CUTS = np.round(np.arange(0.05, 0.951, 0.05), 2)


def predict_sample(model: Bright4B, card: ModelCard, sample: BrightfieldSample) -> np.ndarray:
    """Probabilities ``(K, Z, Y, X)`` on the sample's own grid, through the engine."""
    return run_model(model, card, sample.image[None], voxel_size=sample.voxel_size)


def best_cuts(pairs: Iterable[tuple[np.ndarray, np.ndarray]], class_names: Sequence[str]) -> dict[str, float]:
    """Per class, the cut among :data:`CUTS` with the best Dice pooled over ``pairs`` of
    probabilities ``(K, Z, Y, X)`` and true masks ``(K, Z, Y, X)``."""
    overlap = np.zeros((len(class_names), len(CUTS)))
    volume = np.zeros_like(overlap)
    for probabilities, truth in pairs:
        for k, j in np.ndindex(overlap.shape):
            found = probabilities[k] >= CUTS[j]
            overlap[k, j] += 2 * np.count_nonzero(found & truth[k])
            volume[k, j] += np.count_nonzero(found) + np.count_nonzero(truth[k])
    dice = overlap / np.maximum(volume, 1)
    return {name: float(CUTS[dice[k].argmax()]) for k, name in enumerate(class_names)}


def calibrate_thresholds(model: Bright4B, card: ModelCard, seeds: Iterable[int] = CALIBRATION_SEEDS) -> dict:
    """The card's thresholds: :func:`best_cuts` on the training colonies ``seeds``, predicted
    through the engine and scored at the simulation's voxel size, as held-out colonies are.
    A structure the model is rarely sure of (thin mitochondria) may never pass 0.5."""
    return _calibrate(model, card, (colony(s) for s in seeds))


def calibrate_randomized(model: Bright4B, card: ModelCard) -> dict:
    """:func:`calibrate_thresholds` on colonies drawn from the ``training`` ranges, twice as
    many since they differ more."""
    seeds = RANDOMIZED_TRAIN_SEEDS[: 2 * len(CALIBRATION_SEEDS)]
    return _calibrate(model, card, (colony(s, "training") for s in seeds))


def calibrate_broad(model: Bright4B, card: ModelCard) -> dict:
    """:func:`calibrate_thresholds` on the classic calibration colonies and twice as many
    drawn from the ``training`` ranges, pooled."""
    randomized = BROAD_TRAIN_SEEDS[len(TRAIN_SEEDS) :][: 2 * len(CALIBRATION_SEEDS)]
    samples = [*(colony(s) for s in CALIBRATION_SEEDS), *(colony(s, "training") for s in randomized)]
    return _calibrate(model, card, samples)


def _calibrate(model: Bright4B, card: ModelCard, samples: Iterable[BrightfieldSample]) -> dict:
    return best_cuts(((predict_sample(model, card, s), s.masks() > 0) for s in samples), card.head.class_names)


def score_sample(model: Bright4B, card: ModelCard, sample: BrightfieldSample) -> tuple[np.ndarray, np.ndarray, dict]:
    """Probabilities ``(K, Z, Y, X)`` for ``sample``, masks ``(K, Z, Y, X)`` uint8 cut as
    ``bright4b segment`` cuts by default (the card's thresholds, Otsu where it has none),
    and the metrics of each structure."""
    probabilities = predict_sample(model, card, sample)
    found, _ = masks(probabilities, class_thresholds("model", card.head.class_names, card.thresholds))
    truth = sample.masks()
    scores = {
        name: segmentation_metrics(found[k] > 0, truth[k] > 0, sample.voxel_size)
        for k, name in enumerate(card.head.class_names)
    }
    return probabilities, found, scores


def mean_scores(runs: list[dict], seeds: Iterable[int], thresholds: dict) -> dict:
    """Per-volume ``{structure: metrics}`` -> the card's held-out record: each metric's mean."""
    structures = {
        name: {metric: round(float(np.mean([r[name][metric] for r in runs])), 4) for metric in runs[0][name]}
        for name in runs[0]
    }
    cuts = {name: thresholds.get(name, "otsu") for name in runs[0]}
    return {"held_out_seeds": list(seeds), "thresholds": cuts, "structures": structures}


def evaluate_organelles(model: Bright4B, card: ModelCard, seeds: Iterable[int], ranges: str = "classic") -> dict:
    """Mean metrics per structure over simulated colonies of ``seeds``: the classic
    simulator's (at the Allen voxel size) or drawn from ``RANGES[ranges]``."""
    seeds = list(seeds)
    runs = [score_sample(model, card, colony(s, ranges))[2] for s in seeds]
    return mean_scores(runs, seeds, card.thresholds)


def evaluate_organelle_conditions(
    model: Bright4B, card: ModelCard, seeds: Iterable[int], conditions: Sequence[str] = CONDITIONS
) -> dict:
    """:func:`evaluate_organelles` under each of ``conditions`` (returned as ``conditions``):
    the classic colonies of ``seeds``, and twice as many of :data:`RANDOMIZED_HELD_OUT_SEEDS`
    per randomized condition; the classic figures also at the top level (when scored),
    comparable with earlier models'."""
    seeds = list(seeds)
    randomized = list(RANDOMIZED_HELD_OUT_SEEDS[: 2 * len(seeds)])
    scored = {
        name: evaluate_organelles(model, card, seeds if name == "classic" else randomized, name) for name in conditions
    }
    return {**scored.get("classic", {}), "conditions": scored}
