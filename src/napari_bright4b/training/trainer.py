"""Supervised training of any Bright-4B head.

AdamW (or the factored optimizer of :mod:`.factored`) with linear warmup and cosine decay,
gradient clipping, the Soft-MoE balancing loss, nGPT weight renormalization after every
step, bf16 autocast on CUDA; a checkpoint (model + resumable state + a loss log) every
``checkpoint_every`` steps and at the end.
With a time budget the cosine runs over the budget or the steps, whichever ends first.
Seeded and deterministic on the CPU for a step count: same seed, same weights.
"""

from __future__ import annotations

import csv
import dataclasses
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ..errors import BadInputError
from ..files import atomic_path
from ..inference.engine import CancelToken
from ..models.bright4b import Bright4B
from ..models.card import ModelCard
from ..models.checkpoint import save_checkpoint
from ..nn.hypersphere import renormalize_
from .factored import FactoredRMS
from .losses import classification_loss, deblur_loss, segmentation_loss
from .patches import PatchSampler
from .schedule import warmup_cosine
from .sharding import average_gradient, full_weights, is_sharded, save_optimizer
from .state import load_state, optimizer_folder, save_state, state_path

Loss = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
# adamw: two moments per weight. factored (:mod:`.factored`): second moments factored into
# row and column means, no first moment; a sliver of the memory, what lets full-4b train sharded.
OPTIMIZERS = {"adamw": torch.optim.AdamW, "factored": FactoredRMS}  # --optimizer NAME


@dataclass(frozen=True)
class TrainSettings:
    steps: int = 2000
    batch_size: int = 2
    learning_rate: float = 2e-3
    weight_decay: float = 0.01
    warmup: int = 100
    clip: float = 1.0
    checkpoint_every: int = 250
    time_budget_s: float | None = None
    seed: int = 0
    optimizer: str = "adamw"  # or "factored" (:data:`OPTIMIZERS`)


@dataclass
class TrainResult:
    path: Path | None
    steps: int
    seconds: float
    losses: list[list[float]] = field(default_factory=list)  # [step, loss] every logged step
    held_out: list[list[float]] = field(default_factory=list)  # [step, loss] on held-out data, where measured


ROOT_WEIGHT = 1.0  # of the square-root L1 for a model that refines Richardson-Lucy


def task_loss(card: ModelCard) -> Loss:
    """``loss(output, image, target)`` for the card's task (see :mod:`.losses`); a model that
    refines Richardson-Lucy adds :data:`ROOT_WEIGHT` x :func:`~.losses.root_l1`."""
    head = card.head
    if head.task == "segment":
        return lambda output, image, target: segmentation_loss(output, target, head.activation)
    if head.task == "deblur":
        # a model refining RL reads a range far wider than the image's: its dark background needs the weight
        root = ROOT_WEIGHT if card.deconvolution else 0.0
        return lambda output, image, target: deblur_loss(output, target, root)
    return lambda output, image, target: classification_loss(output, target[:, 0, 0, 0, 0].long())


def write_loss_log(path: Path, losses: list[list[float]], kind: str = "loss") -> Path:
    """``[step, loss]`` rows as ``<path's stem>.<kind>.csv`` beside ``path``, written atomically."""
    log = path.with_name(f"{path.stem}.{kind}.csv")
    with atomic_path(log) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["step", "loss"])
        writer.writerows(losses)
    return log


def _agree(elapsed: float, stop: bool, device: torch.device) -> tuple[float, bool]:
    """The seconds and the stop flag every process agrees on (the largest) under DDP, so
    that all change the learning rate and stop at the same step; as they are otherwise."""
    if not (dist.is_available() and dist.is_initialized()):
        return elapsed, stop
    shared = torch.tensor([elapsed, float(stop)], dtype=torch.float64, device=device)
    dist.all_reduce(shared, op=dist.ReduceOp.MAX)
    return float(shared[0]), bool(shared[1])


def _writes() -> bool:
    """Whether this process writes checkpoints: rank 0 of a torchrun, the only process otherwise."""
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def _set_learning_rate(optimizer: torch.optim.Optimizer, settings: TrainSettings, step: int, elapsed: float) -> float:
    """Set the rate of ``step``: linear warmup, then a cosine over the steps or, with a time
    budget, over the budget if ``elapsed`` seconds of it are the larger share; returns the
    share of the schedule done (negative during warmup)."""
    progress_share = (step - settings.warmup) / max(1, settings.steps - settings.warmup)
    if settings.time_budget_s:
        progress_share = max(progress_share, elapsed / settings.time_budget_s)
    for group in optimizer.param_groups:
        group["lr"] = settings.learning_rate * warmup_cosine(step, settings.warmup, progress_share)
    return progress_share


def _follow_schedule(sampler, share: float) -> None:
    """Tell a sampler that follows the schedule (``follow_schedule``) its share done, in [0, 1]."""
    follow = getattr(sampler, "follow_schedule", None)
    if follow is not None:
        follow(min(1.0, max(0.0, share)))


def _batch_loss(
    model: nn.Module, core: nn.Module, loss_of: Loss, image: torch.Tensor, target: torch.Tensor, autocast
) -> torch.Tensor:
    """``loss_of`` the float output of ``model`` on ``image (B, C, Z, Y, X)`` against ``target``
    under ``autocast``, plus the Soft-MoE balancing loss when ``core`` is a Bright-4B."""
    with autocast:
        value = loss_of(model(image).float(), image, target)
        if isinstance(core, Bright4B):
            value = value + core.balance_loss()
    return value


def _optimizer(
    model: nn.Module, objective: nn.Module | None, settings: TrainSettings
) -> tuple[list[nn.Parameter], list[nn.Parameter], torch.optim.Optimizer]:
    """The settings' optimizer (:data:`OPTIMIZERS`) over the trainable parameters of ``model``
    and then of ``objective``: those, the objective's alone, and the optimizer."""
    outside = [p for p in objective.parameters() if p.requires_grad] if objective is not None else []
    trainable = [p for p in model.parameters() if p.requires_grad] + outside
    return trainable, outside, make_optimizer(trainable, settings)


def make_optimizer(parameters: list[nn.Parameter], settings: TrainSettings) -> torch.optim.Optimizer:
    """``settings.optimizer`` over ``parameters`` at the settings' rate and weight decay."""
    if settings.optimizer not in OPTIMIZERS:
        raise BadInputError(f"unknown optimizer {settings.optimizer!r}; use one of {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[settings.optimizer](parameters, lr=settings.learning_rate, weight_decay=settings.weight_decay)


def _update(
    core: nn.Module,
    optimizer: torch.optim.Optimizer,
    trainable: list[nn.Parameter],
    value: torch.Tensor,
    clip: float,
    outside: list[nn.Parameter],
) -> None:
    """One optimizer step on ``value``: gradients of ``trainable`` (the model's, then the
    ``outside`` ones of a trained objective, averaged over the processes here since DDP
    does not see them) clipped to norm ``clip``, then ``core``'s weights back on the hypersphere."""
    optimizer.zero_grad(set_to_none=True)
    value.backward()
    if outside and dist.is_available() and dist.is_initialized():
        for param in outside:
            if param.grad is not None:
                average_gradient(param)
    torch.nn.utils.clip_grad_norm_(trainable, clip)
    optimizer.step()
    renormalize_(core)


def _checkpoint(
    out: Path | None,
    core: nn.Module,
    card: ModelCard,
    settings: TrainSettings,
    optimizer: torch.optim.Optimizer,
    sampler: PatchSampler,
    start: float,
    objective: nn.Module | None,
    step: int,
    losses: list[list[float]],
) -> None:
    """Write the model (its card's provenance: ``step`` steps, the seconds since ``start``, a
    ``time.perf_counter()`` reading), the resumable state and the loss log to ``out`` from
    rank 0; nothing when ``out`` is ``None``. Every process calls it: a sharded model's
    weights are gathered and its optimizer saved by all of them (:mod:`.sharding`)."""
    sharded = is_sharded(core)
    if out is None or not (sharded or _writes()):
        return
    weights, shards = None, None
    if sharded:
        weights, folder = full_weights(core), optimizer_folder(out, step)
        shards = (folder, save_optimizer(folder, core, optimizer))
    if not _writes():
        return
    provenance = {
        **card.provenance,
        "steps": step,
        "train_seconds": round(time.perf_counter() - start, 1),
        "final_loss": losses[-1][1] if losses else None,
        "settings": dataclasses.asdict(settings),
        "torch": torch.__version__,
    }
    save_checkpoint(core, dataclasses.replace(card, provenance=provenance), out, weights)
    seconds = time.perf_counter() - start
    save_state(state_path(out), optimizer, step, sampler.rng, losses, seconds, shards, objective)
    write_loss_log(out, losses)


def train(
    model: nn.Module,
    card: ModelCard,
    sampler: PatchSampler,
    settings: TrainSettings,
    out: str | Path | None,
    *,
    resume: bool = False,
    progress: Callable[[int, int, float], None] | None = None,
    cancel: CancelToken | None = None,
    loss: Loss | None = None,
) -> TrainResult:
    """Train ``model`` in place on batches from ``sampler``; checkpoints go to ``out``.

    ``model`` is a :class:`Bright4B` for ``card`` (or one wrapped in
    ``DistributedDataParallel`` or sharded by :func:`.sharding.distribute`: rank 0 writes
    the files, and under FSDP every process its optimizer shard) or, with ``out=None``
    (nothing written), any network giving the raw output of ``card.head`` (e.g. a baseline).

    ``progress(step, total, loss)`` is called after every step. A time budget or a
    cancel stops early after the current step and still writes the final checkpoint.
    ``loss(output, image, target)`` replaces the card task's loss (:func:`task_loss`); an
    ``nn.Module`` loss trains its own weights too, kept in the resumable state. Only
    parameters that require gradients are optimized. A sampler may follow the schedule
    (:func:`_follow_schedule`)."""
    out = None if out is None else Path(out)
    if resume and out is None:
        raise ValueError("resuming needs the checkpoint path 'out'")
    torch.manual_seed(settings.seed)
    core = model.module if isinstance(model, DistributedDataParallel) else model  # DDP: the network inside
    device = next(model.parameters()).device
    objective = loss if isinstance(loss, nn.Module) else None  # a loss with weights of its own
    trainable, outside, optimizer = _optimizer(model, objective, settings)
    resumed = load_state(state_path(out), optimizer, sampler.rng, core, objective) if resume else (0, [], 0.0)
    step, losses, earlier = resumed
    loss_of = loss if loss is not None else task_loss(card)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else nullcontext()
    start = time.perf_counter() - earlier  # seconds count over every run of a resumed training
    checkpoint = partial(_checkpoint, out, core, card, settings, optimizer, sampler, start, objective)
    model.train()
    while step < settings.steps:
        elapsed, stop = _agree(time.perf_counter() - start, cancel is not None and cancel.cancelled, device)
        if stop:
            break
        _follow_schedule(sampler, _set_learning_rate(optimizer, settings, step, elapsed))
        image, target = sampler.batch(settings.batch_size)
        value = _batch_loss(model, core, loss_of, image.to(device), target.to(device), autocast)
        _update(core, optimizer, trainable, value, settings.clip, outside)
        step += 1
        losses.append([step, round(value.detach().item(), 5)])
        if progress:
            progress(step, settings.steps, losses[-1][1])
        elapsed, stop = _agree(time.perf_counter() - start, cancel is not None and cancel.cancelled, device)
        if stop or (settings.time_budget_s is not None and elapsed > settings.time_budget_s):
            break
        if step % settings.checkpoint_every == 0 and step < settings.steps:
            checkpoint(step, losses)
    checkpoint(step, losses)
    model.eval()
    return TrainResult(out, step, time.perf_counter() - start, losses)
