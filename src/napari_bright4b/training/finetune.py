"""Few-shot fine-tuning of a model from strokes painted in a Labels layer.

The image and its painted labels (0 = not painted, 1 = background, 2.. = classes; see
:mod:`.painted`) are taken to the base model's voxel size, a share of the strokes is held
out, and the base model, given a softmax head over the painted classes
(:mod:`.adaptation`), trains on patches around the painted voxels by the ordinary
trainer (:func:`.trainer.train`) with the loss on painted voxels only, its logits shifted
by how much more often each class is painted than it occurs (:mod:`.priors`). Every
``evaluate_every`` steps the held-out strokes are scored (:mod:`.held_out`) and the best
state so far is kept in memory; a time budget, a step count or a cancel ends training,
and the best state is saved as a new model (adapters merged into plain weights) whose
card records where it came from. The base model is never written.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from .. import __version__
from ..analysis.uncertainty import normalized_entropy
from ..errors import BadInputError
from ..inference.crops import random_crops
from ..inference.engine import CancelToken, Progress
from ..inference.normalize import percentile_range
from ..inference.predict import run_model
from ..inference.resample import resize_nearest
from ..models.bright4b import Bright4B
from ..models.card import ModelCard
from ..models.checkpoint import save_checkpoint
from ..models.registry import BUNDLED_DIR, SUFFIX, resolve, user_models_dir
from ..models.session import ModelSession
from ..nn.adapters import merge_adapters
from .adaptation import nested_parts, replace_head, restore_trainable_state, set_mode, trainable_state
from .held_out import Score, StrokeScorer, eval_logits
from .losses import painted_loss
from .modes import DEFAULT_NETWORK_MODE, NETWORK_MODES
from .painted import PaintedClasses, PaintedData, check_labels, painted_classes, painted_data
from .patches import PatchSampler
from .priors import image_prior, prior_shift, stroke_prior
from .teacher import pseudo_codes, with_pseudo_labels
from .trainer import TrainSettings, train

STEP_LIMIT = 10**9  # the step "count" of a run limited by its time budget only


@dataclass(frozen=True)
class FinetuneSettings:
    """``mode``: ``head``, ``adapter`` or ``full`` (:mod:`.adaptation`); training stops at
    ``time_budget_s`` seconds (the whole fine-tune, preparation included) or ``steps``,
    whichever comes first (at least one of them). ``prior_correction``: train against the
    image's class frequencies rather than the strokes' (:mod:`.priors`). ``teacher``: also
    train on the instant classifier's sure voxels (:mod:`.teacher`).

    The defaults were chosen on simulated colonies (benchmarks/fewshot.py, docs/finetune.md):
    ``full`` at a peak rate of 2e-4 kept improving nuclei and nucleoli over 150 steps, where
    ``head`` and ``adapter`` (and higher rates) lost the nucleoli after 50-100 steps; the
    prior correction raised nuclei Dice by 0.04 there."""

    mode: str = DEFAULT_NETWORK_MODE
    time_budget_s: float | None = 60.0
    steps: int | None = None
    batch_size: int = 2
    learning_rate: float = 2e-4
    rank: int = 4
    held_out_share: float = 0.2
    evaluate_every: int = 10
    preview_every_s: float = 5.0
    warmup: int = 10
    foreground_share: float = 0.8
    scale: float = 0.15
    prior_correction: bool = True
    teacher: bool = False
    seed: int = 0

    def __post_init__(self):
        if self.mode not in NETWORK_MODES:
            hint = " (instant mode is training.instant.instant_segment)" if self.mode == "instant" else ""
            raise BadInputError(f"unknown fine-tuning mode {self.mode!r}; use one of {', '.join(NETWORK_MODES)}{hint}")
        budget = self.time_budget_s
        if budget is not None and not (math.isfinite(budget) and budget > 0):
            raise BadInputError(f"the time budget must be a positive number of seconds, got {budget}")
        if self.steps is not None and self.steps < 1:
            raise BadInputError(f"the step count must be at least 1, got {self.steps}")
        if not self.learning_rate > 0:
            raise BadInputError(f"the learning rate must be positive, got {self.learning_rate}")
        if budget is None and self.steps is None:
            raise BadInputError("give a time budget, a step count or both")


@dataclass(frozen=True)
class Preview:
    """The fine-tuned model's classes on a slab of the input: ``labels (dz, Y, X)`` painted
    values (0 = background) for input slices ``z``."""

    z: slice
    labels: np.ndarray


@dataclass(frozen=True)
class Report:
    """News after one training step. ``steps`` is the step limit (``None``: the budget
    limits); ``held_out`` the step's held-out score if it was scored; ``best`` the best
    score so far, reached at ``best_step``."""

    step: int
    steps: int | None
    seconds: float
    budget_s: float | None
    loss: float
    held_out: Score | None
    best: Score | None
    best_step: int
    preview: Preview | None = None


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


def default_output(base_name: str) -> Path:
    """A new file in the user's model folder: ``<base>-ft-<UTC time>[-n].safetensors``."""
    stem = f"{base_name}-ft-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}"
    folder, path, n = user_models_dir(), None, 1
    while path is None or path.exists():
        path = folder / f"{stem}{'' if n == 1 else f'-{n}'}{SUFFIX}"
        n += 1
    return path


def check_output(out: Path, base_path: Path | None) -> Path:
    """Refuse an output that is not a ``.safetensors`` file, is the base model, or lies
    among the bundled models."""
    if out.suffix != SUFFIX:
        raise BadInputError(f"the fine-tuned model must be a {SUFFIX} file, got {out.name}")
    if base_path is not None and out.resolve() == base_path.resolve():
        raise BadInputError(f"{out} is the base model; the base is never overwritten: choose another output")
    if out.resolve().parent == BUNDLED_DIR.resolve():
        raise BadInputError(f"{out.parent} holds the bundled models; write the fine-tuned model elsewhere")
    return out


def finetune(
    image: np.ndarray,
    voxel_size: Sequence[float],
    labels: np.ndarray,
    base: str,
    *,
    names: Mapping[int, str] | None = None,
    settings: FinetuneSettings = FinetuneSettings(),
    out: str | Path | None = None,
    device: str = "auto",
    progress: Callable[[Report], None] | None = None,
    cancel: CancelToken | None = None,
    preview_z: Callable[[], int | None] | None = None,
) -> FinetuneResult:
    """Fine-tune model ``base`` (registry name or path) on ``labels (Z, Y, X)`` painted over
    ``image (C, Z, Y, X)`` with voxel size ``voxel_size`` (z, y, x, um) and save it to ``out``
    (default :func:`default_output`) on ``device`` (a spec: ``auto``, ``cpu``, ``cuda:N``,
    ``mps``). ``names`` maps painted values to class names.

    ``progress(report)`` is called after every step; with ``preview_z`` (the input slice
    to show, or ``None``) a :class:`Preview` of the slab around it comes with a report
    every ``settings.preview_every_s`` seconds. A cancel ends training after the current
    step and saves the best state so far. Raises :class:`BadInputError` for unusable input.
    """
    started = time.perf_counter()
    check_labels(labels.shape, image.shape[1:])
    entry = resolve(base)
    session = ModelSession(base, device)  # not released: the trained model is the result
    model, base_card = session.model, session.card
    if base_card.head.task != "segment" and not is_pretrained(base_card):
        raise BadInputError(
            f"{base_card.name!r} is a {base_card.head.task} model; fine-tune a segmentation or a pretrained model"
        )
    out = check_output(Path(out) if out else default_output(base_card.name), entry.path)
    classes = painted_classes(labels, names, () if is_pretrained(base_card) else base_card.head.class_names)
    rng = np.random.default_rng(settings.seed)
    data = painted_data(image, voxel_size, labels, classes, base_card, settings.held_out_share, rng)
    if settings.teacher:  # fitted on the training strokes: the held-out ones still judge
        held_out = resize_nearest(data.held_out[None], labels.shape)[0] > 0
        strokes = np.where(held_out, 0, labels)
        data = with_pseudo_labels(data, pseudo_codes(image, voxel_size, strokes, classes, base, (model, base_card)))
    parts = base_parts(model, base_card, data.image, rng)
    card = dataclasses.replace(replace_head(model, base_card, classes.names, parts), name=out.stem)
    set_mode(model, settings.mode, settings.rank)
    scored_on = "held-out strokes" if data.held_out.any() else "training strokes (no class had a stroke to spare)"
    scorer = StrokeScorer(
        data.image, data.held_out if data.held_out.any() else data.train, len(classes.names), card.tile
    )
    sampler = PatchSampler(
        [data.example()],
        card.tile,
        rng,
        foreground_share=settings.foreground_share,
        centre_on="values",
        flip_z=False,
        scale=settings.scale,
    )
    previewer = _Previewer(model, card, classes, image, voxel_size, preview_z, settings.preview_every_s)
    track = _BestState(model, scorer)

    def on_step(step: int, total: int, loss: float) -> None:
        score = track.score(step) if step % settings.evaluate_every == 0 else None
        report = Report(
            step,
            settings.steps,
            time.perf_counter() - started,
            settings.time_budget_s,
            loss,
            score,
            track.best,
            track.best_step,
            previewer.due(),
        )
        if progress is not None:
            progress(report)

    budget = settings.time_budget_s
    schedule = TrainSettings(
        steps=settings.steps or STEP_LIMIT,
        batch_size=settings.batch_size,
        learning_rate=settings.learning_rate,
        warmup=settings.warmup,
        checkpoint_every=STEP_LIMIT,
        time_budget_s=None if budget is None else max(1e-3, budget - (time.perf_counter() - started)),
        seed=settings.seed,
    )
    shift = torch.from_numpy(prior_shift_for(model, card, base_card, data, settings, rng)).view(1, -1, 1, 1, 1)

    def loss_of(logits: torch.Tensor, image: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        return painted_loss(logits + shift.to(logits.device), codes)

    trained = train(model, card, sampler, schedule, None, progress=on_step, cancel=cancel, loss=loss_of)
    if not track.scores or track.scores[-1][0] != trained.steps:
        track.score(trained.steps)  # the last state counts too (a cancel or the budget ended it)
    track.restore()
    merge_adapters(model)
    model.eval()
    cancelled = cancel is not None and cancel.cancelled
    provenance = {
        "recipe": "finetune",
        "base_model": base_card.name,
        "base_source": entry.source,
        "mode": settings.mode,
        "painted_values": dict(zip(classes.names, classes.values)),
        "painted_voxels": classes.painted_voxels(),
        "steps": trained.steps,
        "best_step": track.best_step,
        "final_loss": trained.losses[-1][1],
        "best_held_out": {
            "loss": round(track.best.loss, 5),
            "balanced_accuracy": round(track.best.balanced_accuracy, 4),
        },
        "prior_shift": {n: round(float(v), 3) for n, v in zip(classes.names, shift.flatten())},
        "nested_parts": parts,
        "scored_on": scored_on,
        "train_seconds": round(trained.seconds, 1),
        "seconds": round(time.perf_counter() - started, 1),
        "cancelled": cancelled,
        "settings": dataclasses.asdict(settings),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "bright4b": __version__,
        "torch": torch.__version__,
    }
    description = f"{base_card.name} fine-tuned ({settings.mode}) on strokes painted for {', '.join(classes.names[1:])}"
    card = dataclasses.replace(card, description=description, provenance=provenance, metrics={})
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


def is_pretrained(card: ModelCard) -> bool:
    """A backbone from ``bright4b pretrain``: its reconstruction head is replaced, not warm-started."""
    return card.provenance.get("recipe") == "pretrain"


def base_parts(model: Bright4B, base_card: ModelCard, image: np.ndarray, rng) -> dict[str, str]:
    """The sigmoid base's classes nested in others (:func:`.adaptation.nested_parts`) on
    random crops of ``image (C, Z, Y, X)`` (model grid); none for a softmax base."""
    if base_card.head.activation != "sigmoid":
        return {}
    crops = random_crops(image, base_card.tile, rng)
    return nested_parts(torch.sigmoid(eval_logits(model, crops, batch_size=len(crops))), base_card.head.class_names)


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


class _BestState:
    """Scores ``model`` on request and keeps a copy of its best trainable state."""

    def __init__(self, model: torch.nn.Module, scorer: StrokeScorer):
        self.model, self.scorer = model, scorer
        self.best: Score | None = None
        self.best_step, self.state = 0, None
        self.scores: list[list[float]] = []

    def score(self, step: int) -> Score:
        score = self.scorer(self.model)
        self.scores.append([step, round(score.loss, 5), round(score.balanced_accuracy, 4)])
        if self.best is None or score.better_than(self.best):
            self.best, self.best_step, self.state = score, step, trainable_state(self.model)
        return score

    def restore(self) -> None:
        restore_trainable_state(self.model, self.state)


class _Previewer:
    """Every ``every_s`` seconds, the model's classes on the slab of the input around the
    slice ``z()`` asks for: as deep as the model's tile, across the whole plane."""

    def __init__(self, model, card, classes, image, voxel_size, z: Callable[[], int | None] | None, every_s: float):
        self.model, self.card, self.classes, self.image, self.voxel_size = model, card, classes, image, voxel_size
        self.z, self.every_s, self.last = z, every_s, time.perf_counter()
        self.range = percentile_range(image, card.normalization["low"], card.normalization["high"]) if z else None

    def due(self) -> Preview | None:
        if self.z is None or time.perf_counter() - self.last < self.every_s:
            return None
        centre = self.z()
        if centre is None:
            return None
        depth = self.image.shape[1]
        slab = min(depth, math.ceil(self.card.tile[0] * self.card.voxel_size[0] / self.voxel_size[0]))
        start = int(np.clip(centre - slab // 2, 0, depth - slab))
        z = slice(start, start + slab)
        self.model.eval()
        probabilities = run_model(  # a quick look: one view, no overlap
            self.model, self.card, self.image[:, z], self.voxel_size, overlap=0.0, views=1, intensity_range=self.range
        )
        self.model.train()
        self.last = time.perf_counter()
        return Preview(z, self.classes.to_painted(probabilities.argmax(0)))


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
