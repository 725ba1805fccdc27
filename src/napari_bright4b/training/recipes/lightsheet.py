"""The light-sheet models' cards, training examples and held-out evaluation.

``bright4b-nano-deblur`` restores simulated light-sheet volumes of every stain under
every PSF family (a residual on the input, trained on sharp/blurred pairs: it goes on from
``bright4b-nano-deblur-classic``, the classic ranges, on those volumes and twice as many
from the randomized ranges; scored also through a widefield PSF, a family it never saw);
``bright4b-nano-deblur-rl`` restores from a Richardson-Lucy deconvolution by a PSF known
only roughly (it goes on from ``bright4b-nano-deblur`` on its volumes and 64 on a dark field);
``bright4b-nano-stain`` names a volume's stain among :data:`STAINS` (it goes on from
``bright4b-nano-stain-classic`` on those volumes, half of them redrawn from the randomized
ranges, first in batches of 2, then of 8). Both work at the simulator's voxel size (no
resampling). Stains cycle with the seed, so every split is balanced across stains.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

import numpy as np

from ...analysis.metrics import classification_metrics, image_metrics
from ...data.synthetic.lightsheet import LIGHTSHEET_VOXEL_SIZE, STAINS, LightSheetSample, simulate_lightsheet
from ...data.synthetic.lightsheet_ranges import CLASSIC, RANGES, ImagingRanges
from ...data.synthetic.nominal_psf import nominal_psf
from ...inference.deconvolution import deblur_input, deconvolve
from ...inference.normalize import Normalizer, percentile_range
from ...inference.predict import run_model, volume_probabilities
from ...models.bright4b import Bright4B
from ...models.card import ModelCard
from ...models.config import HeadConfig
from ...models.presets import PRESETS
from ..patches import Example
from .naming import STARTS_FROM, recipe_command

DEBLUR = "bright4b-nano-deblur"
DEBLUR_RL = "bright4b-nano-deblur-rl"
# twice `bright4b deblur --method rl`'s total variation: on a nearly sharp, noisy image RL with
# 0.002 amplifies the noise below the input's SSIM, which no correction of it undid (docs/models.md)
RL_SETTINGS = {"iterations": 20, "tv": 0.004}
PSF_ERROR = 1.35  # the refining model's training PSFs are off by up to this factor (axial, lateral)
STAIN = "bright4b-nano-stain"
DEBLUR_SHAPE = (32, 96, 96)  # 64 x 96 x 96 um
STAIN_SHAPE = (32, 64, 64)  # 64 x 64 x 64 um, one field of view of the classifier
PATCH = (32, 64, 64)  # training patch = inference tile of both models


def stain_of(seed: int) -> str:
    return STAINS[seed % len(STAINS)]


def lightsheet_sample(seed: int, shape: Sequence[int], ranges: ImagingRanges = CLASSIC) -> LightSheetSample:
    return simulate_lightsheet(shape, LIGHTSHEET_VOXEL_SIZE, seed, stain=stain_of(seed), ranges=ranges)


def _ranges_text(ranges: str, classic_seeds: Sequence[int]) -> str:
    """Which ranges a recipe's volumes come from, for its card (``broad``: by seed)."""
    if ranges != "broad":
        return f"{ranges!r} ranges"
    return f"'classic' ranges for seeds {classic_seeds[0]}-{classic_seeds[-1]}, else 'training'"


def _card(
    name: str,
    head: HeadConfig,
    description: str,
    recipe: str,
    shape: Sequence[int],
    seeds,
    views: int = 1,
    formation: str = "'classic' ranges",
) -> ModelCard:
    return ModelCard(
        name=name,
        config=PRESETS["nano"].config,
        head=head,
        voxel_size=LIGHTSHEET_VOXEL_SIZE,
        modality="light-sheet",
        tile=PATCH,
        views=views,
        description=description,
        provenance={
            "recipe": recipe,
            "command": recipe_command(recipe, name, STARTS_FROM.get(recipe)),
            "data": f"simulate_lightsheet seeds {seeds[0]}-{seeds[-1]} (stains cycling), {tuple(shape)} "
            f"at {LIGHTSHEET_VOXEL_SIZE} um, image formation from the {formation} "
            "(data/synthetic/lightsheet_ranges.py)",
        },
    )


DEBLUR_TRAIN_SEEDS = tuple(range(2000, 2064))
RANDOMIZED_DEBLUR_TRAIN_SEEDS = tuple(range(2000, 2128))  # twice as many: a far wider space
CONDITIONS = ("classic", "training", "held-out-corner")  # scored apart (lightsheet_ranges)
DEBLUR_CONDITIONS = (*CONDITIONS, "held-out-widefield")  # a PSF family no recipe trains on
DEBLUR_HELD_OUT_SEEDS = tuple(range(9100, 9116))
STAIN_TRAIN_SEEDS = tuple(range(3000, 3000 + 4096))
# "broad": the classic ranges as one corner, the rest drawn from the training ranges
BROAD_DEBLUR_TRAIN_SEEDS = DEBLUR_TRAIN_SEEDS + tuple(range(2064, 2192))  # 64 classic, 128 randomized
DARK_DEBLUR_TRAIN_SEEDS = tuple(range(2256, 2320))  # the refining model's: sparse structure on a dark field
RL_DEBLUR_TRAIN_SEEDS = BROAD_DEBLUR_TRAIN_SEEDS + DARK_DEBLUR_TRAIN_SEEDS
BROAD_STAIN_CLASSIC_SEEDS = STAIN_TRAIN_SEEDS[:2048]  # the other half randomized; stains stay balanced
STAIN_HELD_OUT_SEEDS = tuple(range(9200, 9264))


def _named(model: str, ranges: str) -> tuple[str, str]:
    """``(name, recipe)`` of ``model`` trained on ``ranges``: the bundled name for ``broad``
    (which goes on from the ``-classic`` model, :data:`STARTS_FROM`), ``-classic`` for the
    ``classic`` ranges and ``-randomized`` for the ``training`` ranges."""
    suffix = {"training": "-randomized", "classic": "-classic"}.get(ranges, "")
    return model + suffix, model.removeprefix("bright4b-nano-") + suffix


def broad_ranges(seed: int, classic_seeds: Sequence[int]) -> str:
    """The ranges a ``broad`` training volume is drawn from: ``classic`` for ``classic_seeds``,
    else ``training``."""
    return "classic" if seed in classic_seeds else "training"


def deblur_card(ranges: str = "classic") -> ModelCard:
    """The card of the deblurring model trained on the ``classic`` ranges
    (``bright4b-nano-deblur-classic``), on the ``training`` ranges (randomized minus the
    held-out corner: ``bright4b-nano-deblur-randomized``) or, going on from the classic
    model, on ``broad``: the classic volumes and twice as many from the training ranges (the
    bundled ``bright4b-nano-deblur``)."""
    head = HeadConfig("deblur", ("intensity",))
    families = (
        "Gaussian and light-sheet PSFs"
        if ranges == "classic"
        else "Gaussian, light-sheet and depth-graded PSFs over wide randomized ranges"
    )
    description = f"Trained on simulated light-sheet volumes only ({families}, 8 stain types): deblurring and denoising"
    name, recipe = _named(DEBLUR, ranges)
    seeds = {"classic": DEBLUR_TRAIN_SEEDS, "broad": BROAD_DEBLUR_TRAIN_SEEDS}.get(
        ranges, RANDOMIZED_DEBLUR_TRAIN_SEEDS
    )
    # both light-sheet models average each tile over its 8 y-x mirrors and quarter turns
    # (the symmetries they were trained under), for 8 times the compute (docs/models.md)
    formation = _ranges_text(ranges, DEBLUR_TRAIN_SEEDS)
    return _card(name, head, description, recipe, DEBLUR_SHAPE, seeds, views=8, formation=formation)


def deblur_rl_card() -> ModelCard:
    """The card of ``bright4b-nano-deblur-rl``: it refines :data:`RL_SETTINGS`'s Richardson-Lucy
    deconvolution with the user's PSF, going on from ``bright4b-nano-deblur`` on its volumes."""
    description = (
        "Trained on simulated light-sheet volumes only (Gaussian, light-sheet and depth-graded PSFs over wide "
        "randomized ranges, 8 stain types, also on a dark field): refines a Richardson-Lucy deconvolution "
        f"({RL_SETTINGS['iterations']} iterations, tv {RL_SETTINGS['tv']}) with the microscope's PSF, "
        f"known to within a factor {PSF_ERROR}"
    )
    # a gain on RL's estimate, not a residual: it lays no light where RL left none (docs/models.md)
    head = HeadConfig("deblur", ("intensity",), correction="multiplicative")
    formation = _ranges_text("broad", DEBLUR_TRAIN_SEEDS) + (
        f" ('training-dark' for seeds {DARK_DEBLUR_TRAIN_SEEDS[0]}-{DARK_DEBLUR_TRAIN_SEEDS[-1]})"
    )
    card = _card(DEBLUR_RL, head, description, "deblur-rl", DEBLUR_SHAPE, RL_DEBLUR_TRAIN_SEEDS, 8, formation)
    return dataclasses.replace(card, deconvolution=dict(RL_SETTINGS))


def stain_card(ranges: str = "classic", recipe: str | None = None) -> ModelCard:
    """The card of the stain classifier trained on the ``classic`` ranges
    (``bright4b-nano-stain-classic``), on the ``training`` ranges (``stain-randomized``) or,
    going on from the classic model, on ``broad``: half the volumes classic, half from the
    training ranges (``stain-broad``, then in larger batches the bundled
    ``bright4b-nano-stain``); ``recipe`` names it, else the ranges do."""
    head = HeadConfig("classify", STAINS)
    formation = "" if ranges == "classic" else " over wide randomized image formation"
    description = f"Trained on simulated light-sheet volumes only{formation}: stain classification, " + ", ".join(
        STAINS
    )
    name, recipe = (f"bright4b-nano-{recipe}", recipe) if recipe else _named(STAIN, ranges)
    formation = _ranges_text(ranges, BROAD_STAIN_CLASSIC_SEEDS)
    return _card(name, head, description, recipe, STAIN_SHAPE, STAIN_TRAIN_SEEDS, views=8, formation=formation)


def deblur_example(seed: int, ranges: str = "classic") -> Example:
    """Blurred input and sharp target, both mapped by the input's percentile normalizer; image
    formation from :data:`~...data.synthetic.lightsheet_ranges.RANGES` ``[ranges]``
    (``broad``: :func:`broad_ranges`)."""
    if ranges == "broad":
        ranges = broad_ranges(seed, DEBLUR_TRAIN_SEEDS)
    sample = lightsheet_sample(seed, DEBLUR_SHAPE, RANGES[ranges])
    normalize = Normalizer(*percentile_range(sample.image, **deblur_card().normalization))
    return Example(normalize(sample.image)[None], normalize(sample.sharp)[None])


def misjudged_psf(sample: LightSheetSample, seed: int) -> np.ndarray:
    """``sample``'s nominal PSF with its axial and lateral widths each off by a factor drawn
    log-uniformly up to :data:`PSF_ERROR` (seeded by ``seed``): a PSF known only roughly."""
    rng = np.random.default_rng([seed, 1])
    scale = np.exp(rng.uniform(-np.log(PSF_ERROR), np.log(PSF_ERROR), 2))
    return nominal_psf(sample.blur, sample.voxel_size, sample.image.shape, tuple(scale))


def deblur_rl_example(seed: int) -> Example:
    """The Richardson-Lucy deconvolution of a ``broad`` volume (``training-dark`` for
    :data:`DARK_DEBLUR_TRAIN_SEEDS`) by its :func:`misjudged_psf` and the sharp target, both
    mapped by the deconvolution's percentile normalizer."""
    ranges = "training-dark" if seed in DARK_DEBLUR_TRAIN_SEEDS else broad_ranges(seed, DEBLUR_TRAIN_SEEDS)
    sample = lightsheet_sample(seed, DEBLUR_SHAPE, RANGES[ranges])
    restored = deconvolve(sample.image[None], misjudged_psf(sample, seed), **RL_SETTINGS)
    normalize = Normalizer(*percentile_range(restored, **deblur_card().normalization))
    return Example(normalize(restored), normalize(sample.sharp)[None])


def stain_example(seed: int, ranges: str = "classic") -> Example:
    """A normalized volume and its stain index on every voxel ``(1, Z, Y, X)``; image
    formation from ``RANGES[ranges]`` (``broad``: :func:`broad_ranges`)."""
    if ranges == "broad":
        ranges = broad_ranges(seed, BROAD_STAIN_CLASSIC_SEEDS)
    sample = lightsheet_sample(seed, STAIN_SHAPE, RANGES[ranges])
    normalize = Normalizer(*percentile_range(sample.image, **stain_card().normalization))
    target = np.full((1, *STAIN_SHAPE), STAINS.index(sample.stain), dtype=np.uint8)
    return Example(normalize(sample.image)[None], target)


def _mean(values: Iterable[float]) -> float:
    return round(float(np.mean(list(values))), 4)


def evaluate_deblur(model: Bright4B, card: ModelCard, seeds: Iterable[int], ranges: ImagingRanges = CLASSIC) -> dict:
    """SSIM and PSNR of the blurred input and of the restoration against the sharp volume,
    image formation drawn from ``ranges``; for a model that refines Richardson-Lucy, which is
    given each volume's nominal PSF, also of the deconvolution it reads (``ssim_read``)."""
    rows = []
    for seed in seeds:
        sample = lightsheet_sample(seed, DEBLUR_SHAPE, ranges)
        psf = nominal_psf(sample.blur, sample.voxel_size, sample.image.shape) if card.deconvolution else None
        read = deblur_input(card, sample.image[None], psf)
        restored = run_model(model, card, read)[0]
        row = {"stain": sample.stain, "before": image_metrics(sample.image, sample.sharp)}
        if card.deconvolution:  # what the model read, when that is not the image itself
            row["read"] = image_metrics(read[0], sample.sharp)
        rows.append({**row, "after": image_metrics(restored, sample.sharp)})
    per_stain = {}
    for stain in dict.fromkeys(r["stain"] for r in rows):
        mine = [r for r in rows if r["stain"] == stain]
        per_stain[stain] = {key: _mean(r[key]["ssim"] for r in mine) for key in ("before", "after")}
    before, after = _mean(r["before"]["ssim"] for r in rows), _mean(r["after"]["ssim"] for r in rows)
    return {
        "held_out_seeds": list(seeds),
        "ssim_before": before,
        "ssim_after": after,
        "ssim_gain": round(after - before, 4),
        **({"ssim_read": _mean(r["read"]["ssim"] for r in rows)} if card.deconvolution else {}),
        "psnr_before": _mean(r["before"]["psnr"] for r in rows),
        "psnr_after": _mean(r["after"]["psnr"] for r in rows),
        "per_stain": per_stain,
    }


def evaluate_deblur_conditions(model: Bright4B, card: ModelCard, seeds: Iterable[int]) -> dict:
    """:func:`evaluate_deblur` under each of :data:`DEBLUR_CONDITIONS` (``conditions``), the
    classic simulator's figures also at the top level, comparable with earlier models'."""
    seeds = list(seeds)
    conditions = {name: evaluate_deblur(model, card, seeds, RANGES[name]) for name in DEBLUR_CONDITIONS}
    return {**conditions["classic"], "conditions": conditions}


def evaluate_stain(model: Bright4B, card: ModelCard, seeds: Iterable[int], ranges: ImagingRanges = CLASSIC) -> dict:
    """Accuracy, macro-F1 and the confusion matrix (rows: true stain) of volume-level calls,
    image formation drawn from ``ranges``."""
    seeds = list(seeds)
    true, predicted = [], []
    for seed in seeds:
        sample = lightsheet_sample(seed, STAIN_SHAPE, ranges)
        true.append(STAINS.index(sample.stain))
        predicted.append(int(np.argmax(volume_probabilities(run_model(model, card, sample.image[None])))))
    confusion = np.zeros((len(STAINS), len(STAINS)), dtype=int)
    np.add.at(confusion, (true, predicted), 1)
    scores = classification_metrics(predicted, true, len(STAINS))
    return {
        "held_out_seeds": seeds,
        **{k: round(v, 4) for k, v in scores.items()},
        "classes": list(STAINS),
        "confusion": confusion.tolist(),
    }


def evaluate_stain_conditions(model: Bright4B, card: ModelCard, seeds: Iterable[int]) -> dict:
    """:func:`evaluate_stain` under each of :data:`CONDITIONS` (``conditions``), the
    classic simulator's figures also at the top level, comparable with earlier models'."""
    seeds = list(seeds)
    conditions = {name: evaluate_stain(model, card, seeds, RANGES[name]) for name in CONDITIONS}
    return {**conditions["classic"], "conditions": conditions}
