"""Few-shot fine-tuning of a model from strokes painted in a Labels layer.

The image and its painted labels (0 = not painted, 1 = background, 2.. = classes; see
:mod:`.painted`) are taken to the base model's voxel size, a share of the strokes is held
out, and the base model, given a softmax head over the painted classes
(:mod:`.adaptation`), trains on patches around the painted voxels by the ordinary
trainer (:func:`..trainer.train`) with the loss on painted voxels only, its logits shifted
by how much more often each class is painted than it occurs (:mod:`.priors`). Every
``evaluate_every`` steps the held-out strokes are scored (:mod:`.held_out`) and the best
state so far is kept in memory (:mod:`.progress`); a time budget, a step count or a cancel
ends training, and the best state is saved as a new model (adapters merged into plain
weights) whose card records where it came from (:mod:`.output`). The base model is never
written.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ...errors import BadInputError
from ...inference.crops import random_crops
from ...inference.engine import CancelToken
from ...models.bright4b import Bright4B
from ...models.card import ModelCard
from ...models.checkpoint import save_checkpoint
from ...models.registry import ModelEntry, resolve
from ...models.session import ModelSession
from ...nn.adapters import merge_adapters
from ..losses import painted_loss
from ..patches import PatchSampler
from ..trainer import Loss, train
from .adaptation import nested_parts, replace_head, set_mode
from .held_out import Score, StrokeScorer, eval_logits
from .image_adaptation import adapt_to_image, adaptation_record
from .output import check_output, default_output, finetuned_card
from .painted import PaintedClasses, PaintedData, check_labels, painted_classes, painted_data
from .priors import image_prior, prior_shift, stroke_prior
from .progress import BestState, Previewer, Report, reporter
from .settings import DEFAULT_SETTINGS, FinetuneSettings, adaptation_settings, train_settings
from .teacher import with_teacher


@dataclass
class FinetuneResult:
    """The saved model (``model`` in eval mode, as saved at ``path``), its ``card`` and how
    training went: ``losses`` ``[step, loss]`` per step, ``scores`` ``[step, held-out loss,
    balanced accuracy]`` per scoring."""

    path: Path
    model: Bright4B
    card: ModelCard
    classes: PaintedClasses
    steps: int
    best_step: int
    best: Score
    seconds: float
    cancelled: bool
    losses: list[list[float]] = field(default_factory=list)
    scores: list[list[float]] = field(default_factory=list)


def finetune(
    image: np.ndarray,
    voxel_size: Sequence[float],
    labels: np.ndarray,
    base: str,
    *,
    names: Mapping[int, str] | None = None,
    settings: FinetuneSettings = DEFAULT_SETTINGS,
    out: str | Path | None = None,
    device: str = "auto",
    progress: Callable[[Report], None] | None = None,
    cancel: CancelToken | None = None,
    preview_z: Callable[[], int | None] | None = None,
) -> FinetuneResult:
    """Fine-tune model ``base`` (registry name or path) on ``labels (Z, Y, X)`` painted over
    ``image (C, Z, Y, X)`` with voxel size ``voxel_size`` (z, y, x, um) and save it to ``out``
    (default :func:`.output.default_output`) on ``device`` (a spec: ``auto``, ``cpu``,
    ``cuda:N``, ``mps``). ``names`` maps painted values to class names.

    ``progress(report)`` is called after every step; with ``preview_z`` (the input slice
    to show, or ``None``) a :class:`.progress.Preview` of the slab around it comes with a report
    every ``settings.preview_every_s`` seconds. A cancel ends training after the current
    step and saves the best state so far. Raises :class:`BadInputError` for unusable input.
    """
    started = time.perf_counter()
    check_labels(labels.shape, image.shape[1:])
    entry, model, base_card = _load_base(base, device)
    out = check_output(Path(out) if out else default_output(base_card.name), entry.path)
    classes = painted_classes(labels, names, () if is_pretrained(base_card) else base_card.head.class_names)
    rng = np.random.default_rng(settings.seed)
    data = _stroke_data(image, voxel_size, labels, classes, base, (model, base_card), settings, rng)
    adapted, budget_from = _adapt_to_image(model, base_card, data.image, settings, rng, cancel, started)
    card, parts = _adapt(model, base_card, classes, data.image, settings, rng, out.stem)
    scorer, scored_on = _stroke_scorer(data, len(classes.names), card.tile)
    sampler, track = _stroke_sampler(data, card.tile, settings, rng), BestState(model, scorer)
    previewer = Previewer(model, card, classes, image, voxel_size, preview_z, settings.preview_every_s)
    on_step = reporter(settings, budget_from, track, previewer, progress)
    schedule = train_settings(settings, budget_from)
    shift = torch.from_numpy(prior_shift_for(model, card, base_card, data, settings, rng)).view(1, -1, 1, 1, 1)
    trained = train(model, card, sampler, schedule, None, progress=on_step, cancel=cancel, loss=_shifted_loss(shift))
    _keep_best(model, track, trained.steps)
    cancelled = cancel is not None and cancel.cancelled
    card = finetuned_card(
        card, base_card, entry.source, settings, classes, trained, track, shift, parts, scored_on, cancelled, started
    )
    card.provenance.update({"image_adaptation": adapted} if adapted else {})
    save_checkpoint(model, card, out)
    return FinetuneResult(
        out,
        model,
        card,
        classes,
        trained.steps,
        track.best_step,
        track.best,
        time.perf_counter() - started,
        cancelled,
        trained.losses,
        track.scores,
    )


def _adapt_to_image(
    model: Bright4B, card: ModelCard, image: np.ndarray, settings: FinetuneSettings, rng, cancel, started: float
) -> tuple[dict | None, float]:
    """With ``settings.adapt_s``, train ``model`` that long on ``image (C, Z, Y, X)`` (model
    grid), unlabeled (:mod:`.image_adaptation`): the card's record of it (else ``None``) and
    the ``time.perf_counter()`` reading the strokes' budget counts from (``started`` pushed
    on by the adaptation's whole wall time)."""
    if not settings.adapt_s:
        return None, started
    begun = time.perf_counter()
    teacher = settings.adapt_ema_teacher
    result = adapt_to_image(model, card, image, adaptation_settings(settings), rng, cancel, teacher)
    return adaptation_record(result, teacher), started + (time.perf_counter() - begun)


def _load_base(base: str, device: str) -> tuple[ModelEntry, Bright4B, ModelCard]:
    """The registry entry of ``base``, its model on ``device`` (kept: the trained model is the
    result) and its card; refused unless it segments or is a pretrained backbone."""
    entry = resolve(base)
    session = ModelSession(base, device)  # not released: the trained model is the result
    model, base_card = session.model, session.card
    if base_card.head.task != "segment" and not is_pretrained(base_card):
        raise BadInputError(
            f"{base_card.name!r} is a {base_card.head.task} model; fine-tune a segmentation or a pretrained model"
        )
    return entry, model, base_card


def is_pretrained(card: ModelCard) -> bool:
    """A backbone from ``bright4b pretrain``: its reconstruction head is replaced, not warm-started."""
    return card.provenance.get("recipe") == "pretrain"


def _stroke_data(
    image: np.ndarray,
    voxel_size: Sequence[float],
    labels: np.ndarray,
    classes: PaintedClasses,
    base: str,
    loaded: tuple[Bright4B, ModelCard],
    settings: FinetuneSettings,
    rng: np.random.Generator,
) -> PaintedData:
    """``image (C, Z, Y, X)`` and its painted ``labels (Z, Y, X)`` on the grid of the ``loaded``
    base ``(model, card)``, a share of the strokes held out; with ``settings.teacher`` also
    the instant classifier's sure voxels (:func:`.teacher.with_teacher`)."""
    data = painted_data(image, voxel_size, labels, classes, loaded[1], settings.held_out_share, rng)
    if settings.teacher:  # fitted on the training strokes: the held-out ones still judge
        data = with_teacher(data, image, voxel_size, labels, classes, base, loaded)
    return data


def _adapt(
    model: Bright4B,
    base_card: ModelCard,
    classes: PaintedClasses,
    image: np.ndarray,
    settings: FinetuneSettings,
    rng: np.random.Generator,
    name: str,
) -> tuple[ModelCard, dict[str, str]]:
    """Give ``model`` a softmax head over the painted classes (warm-started from the base's,
    parts found on ``image (C, Z, Y, X)``, model grid) and set what trains (``settings.mode``),
    in place; return its card, named ``name``, and the base's nested parts."""
    parts = base_parts(model, base_card, image, rng)
    card = dataclasses.replace(replace_head(model, base_card, classes.names, parts), name=name)
    set_mode(model, settings.mode, settings.rank)
    return card, parts


def base_parts(model: Bright4B, base_card: ModelCard, image: np.ndarray, rng) -> dict[str, str]:
    """The sigmoid base's classes nested in others (:func:`.adaptation.nested_parts`) on
    random crops of ``image (C, Z, Y, X)`` (model grid); none for a softmax base."""
    if base_card.head.activation != "sigmoid":
        return {}
    crops = random_crops(image, base_card.tile, rng)
    return nested_parts(torch.sigmoid(eval_logits(model, crops, batch_size=len(crops))), base_card.head.class_names)


def _stroke_scorer(data: PaintedData, classes: int, tile: Sequence[int]) -> tuple[StrokeScorer, str]:
    """The scorer of ``classes`` classes on the held-out strokes (on the training strokes when
    no class had one to spare), in crops of ``tile``, and what it scores on, in words."""
    scored_on = "held-out strokes" if data.held_out.any() else "training strokes (no class had a stroke to spare)"
    return StrokeScorer(data.image, data.held_out if data.held_out.any() else data.train, classes, tile), scored_on


def _stroke_sampler(
    data: PaintedData, patch: Sequence[int], settings: FinetuneSettings, rng: np.random.Generator
) -> PatchSampler:
    """Training patches of ``patch`` voxels (Z, Y, X) centred on the training strokes a
    ``settings.foreground_share`` of the time, never mirrored in z, zoomed by ``settings.scale``."""
    return PatchSampler(
        [data.example()],
        patch,
        rng,
        foreground_share=settings.foreground_share,
        centre_on="values",
        flip_z=False,
        scale=settings.scale,
    )


def prior_shift_for(
    model: Bright4B, card: ModelCard, base_card: ModelCard, data: PaintedData, settings: FinetuneSettings, rng
) -> np.ndarray:
    """The logit shift ``(K,)`` of the training loss (:mod:`.priors`; zeros without
    ``settings.prior_correction``), from ``model`` with its new head warm-started."""
    classes = len(card.head.class_names)
    if not settings.prior_correction:
        return np.zeros(classes, np.float32)
    known = [name == "background" or name in base_card.head.class_names for name in card.head.class_names]
    return prior_shift(stroke_prior(data.train, classes), image_prior(model, data.image, card.tile, rng), known)


def _shifted_loss(shift: torch.Tensor) -> Loss:
    """The painted-voxel loss (:func:`..losses.painted_loss`) of logits plus ``shift (1, K, 1, 1, 1)``."""

    def loss_of(logits: torch.Tensor, image: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        return painted_loss(logits + shift.to(logits.device), codes)

    return loss_of


def _keep_best(model: Bright4B, track: BestState, steps: int) -> None:
    """Score the last state (step ``steps``) unless it was scored, restore the best one, merge
    any adapters into plain weights and leave ``model`` in eval mode."""
    if not track.scores or track.scores[-1][0] != steps:
        track.score(steps)  # the last state counts too (a cancel or the budget ended it)
    track.restore()
    merge_adapters(model)
    model.eval()
