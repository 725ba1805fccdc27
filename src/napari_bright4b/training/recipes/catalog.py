"""Recipes that train the bundled models from simulated data, one command each
(``bright4b train RECIPE -o OUT.safetensors``; docs/models.md)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np

from ...models.bright4b import Bright4B
from ...models.card import ModelCard
from ..patches import Example, PatchSampler
from ..structure_routing import RoutingSupervision, StructureRouting
from ..trainer import task_loss
from . import lightsheet, organelles
from .naming import STARTS_FROM


@dataclass(frozen=True)
class Recipe:
    """How one bundled model is made: its card, examples per seed, the held-out
    evaluation, the seeds of each split, the training patch and the default schedule;
    ``calibrate(model, card)`` (optional) picks the card's per-class thresholds on
    training data before the held-out evaluation. A recipe that ``starts_from`` another
    goes on from that recipe's model (``bright4b train NAME --init MODEL``). With
    ``routing_supervision`` the task loss is wrapped in
    :class:`~napari_bright4b.training.structure_routing.StructureRouting`."""

    name: str
    card: Callable[[], ModelCard]
    example: Callable[[int], Example]
    evaluate: Callable[[Bright4B, ModelCard, Iterable[int]], dict]
    train_seeds: Sequence[int]
    held_out_seeds: Sequence[int]
    patch: tuple[int, int, int]
    steps: int
    learning_rate: float = 2e-3
    batch_size: int = 2
    calibrate: Callable[[Bright4B, ModelCard], dict] | None = None
    starts_from: str | None = None
    routing_supervision: RoutingSupervision | None = None

    def routing_loss(self, model: Bright4B, card: ModelCard, steps: int) -> StructureRouting | None:
        """The task loss wrapped in :attr:`routing_supervision`, its confidence ramp at the
        same fractions of a run of ``steps`` as of the recipe's own; ``None`` without it."""
        if self.routing_supervision is None:
            return None
        supervision = self.routing_supervision.for_steps(steps, self.steps)
        return supervision.loss(model, task_loss(card), card.head.channels)

    def examples(self, seeds: Iterable[int]) -> list[Example]:
        return [self.example(seed) for seed in seeds]

    def sampler(self, examples: Sequence[Example], rng: np.random.Generator) -> PatchSampler:
        """The recipe's training patches, with its augmentations, from ``examples``. A
        brightfield stack is never mirrored in z: its contrast inverts across focus, so a
        mirrored stack would show each object with the opposite refractive index."""
        flip_z = self.card().modality != "brightfield"
        return PatchSampler(examples, self.patch, rng, flip_z=flip_z)


def _lightsheet(name: str, ranges: str, train_seeds: Sequence[int], evaluate=None, **schedule) -> Recipe:
    """The deblurring or stain recipe (``name``'s first word) on ``ranges``, 4000 steps
    unless ``schedule`` says otherwise, scored under every range set unless ``evaluate``
    says otherwise; on ``broad``, a later stage of the bundled model, going on from
    :data:`STARTS_FROM`'s model at learning rate 1e-3."""
    deblur = name.startswith("deblur")
    card, example = (
        (partial(lightsheet.deblur_card, ranges), lightsheet.deblur_example)
        if deblur
        else (partial(lightsheet.stain_card, ranges, name), lightsheet.stain_example)
    )
    evaluate = evaluate or (lightsheet.evaluate_deblur_conditions if deblur else lightsheet.evaluate_stain_conditions)
    held_out = lightsheet.DEBLUR_HELD_OUT_SEEDS if deblur else lightsheet.STAIN_HELD_OUT_SEEDS
    later_stage = {"learning_rate": 1e-3, "starts_from": STARTS_FROM[name]} if ranges == "broad" else {}
    schedule = {"steps": 4000, **later_stage, **schedule}
    return Recipe(
        name, card, partial(example, ranges=ranges), evaluate, train_seeds, held_out, lightsheet.PATCH, **schedule
    )


def _organelles_broad(name: str, **schedule) -> Recipe:
    """A later stage of the organelle model on the ``broad`` colonies, going on from
    :data:`STARTS_FROM`'s model at learning rate 1e-3 with ``schedule``."""
    return Recipe(
        name,
        partial(organelles.organelles_card, "broad", name),
        organelles.broad_example,
        organelles.evaluate_organelle_conditions,
        organelles.BROAD_TRAIN_SEEDS,
        organelles.HELD_OUT_SEEDS,
        organelles.PATCH,
        learning_rate=1e-3,
        calibrate=organelles.calibrate_broad,
        starts_from=STARTS_FROM[name],
        **schedule,
    )


RECIPES = {
    recipe.name: recipe
    for recipe in (
        Recipe(
            "organelles-classic",
            organelles.organelles_card,
            organelles.brightfield_example,
            organelles.evaluate_organelles,
            organelles.TRAIN_SEEDS,
            organelles.HELD_OUT_SEEDS,
            organelles.PATCH,
            steps=4400,
            calibrate=organelles.calibrate_thresholds,
        ),
        Recipe(
            "organelles-randomized",
            partial(organelles.organelles_card, "training"),
            organelles.randomized_example,
            organelles.evaluate_organelle_conditions,
            organelles.RANDOMIZED_TRAIN_SEEDS,
            organelles.HELD_OUT_SEEDS,
            organelles.PATCH,
            steps=4400,
            calibrate=organelles.calibrate_randomized,
        ),
        _organelles_broad(
            "organelles-broad",
            steps=4400,
            # experts that follow structure: the routing probes, the confidence ramped in over
            # the third quarter (docs/inspect.md)
            routing_supervision=RoutingSupervision(token_weight=0.5, routing_weight=1.0, sharpen=(2200, 3300)),
        ),
        # the third stage: the same colonies in batches of 8, the routing confidence ramped in
        # again over the run's third quarter; better on every held-out row (docs/models.md)
        _organelles_broad(
            "organelles",
            steps=1100,
            batch_size=8,
            routing_supervision=RoutingSupervision(token_weight=0.5, routing_weight=1.0, sharpen=(550, 825)),
        ),
        _lightsheet("deblur-classic", "classic", lightsheet.DEBLUR_TRAIN_SEEDS),
        _lightsheet("deblur-randomized", "training", lightsheet.RANDOMIZED_DEBLUR_TRAIN_SEEDS),
        _lightsheet("deblur", "broad", lightsheet.BROAD_DEBLUR_TRAIN_SEEDS),
        Recipe(
            "deblur-rl",
            lightsheet.deblur_rl_card,
            lightsheet.deblur_rl_example,
            lightsheet.evaluate_deblur_conditions,
            lightsheet.RL_DEBLUR_TRAIN_SEEDS,
            lightsheet.DEBLUR_HELD_OUT_SEEDS,
            lightsheet.PATCH,
            steps=2400,
            learning_rate=1e-3,  # going on from the bundled deblurring model
            starts_from=STARTS_FROM["deblur-rl"],
        ),
        _lightsheet("stain-classic", "classic", lightsheet.STAIN_TRAIN_SEEDS, evaluate=lightsheet.evaluate_stain),
        _lightsheet("stain-randomized", "training", lightsheet.STAIN_TRAIN_SEEDS),
        _lightsheet("stain-broad", "broad", lightsheet.STAIN_TRAIN_SEEDS),
        # the third stage: the same volumes in batches of 8, whose steadier gradients name 0.09
        # more of the training ranges right than as many volumes in batches of 2 did (docs/models.md)
        _lightsheet("stain", "broad", lightsheet.STAIN_TRAIN_SEEDS, steps=1000, batch_size=8),
    )
}
