"""EMA-teacher distillation, the light-sheet foundation model's second pretraining objective.

A teacher, a copy of the student whose weights follow the student's as an exponential
moving average (``w_t <- m w_t + (1 - m) w_s`` after every step, then back on the
hypersphere), sees the whole patch; the student sees it masked. Besides filling in the
hidden voxels, the student's last-layer token states must point where the teacher's do:
the loss adds ``weight * mean_tokens (1 - cos(student, teacher))``. The teacher takes no
gradient and is not saved: a resumed run starts it again from the student.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

import torch

from ...models.bright4b import Bright4B
from ...nn.hypersphere import l2norm, renormalize_
from ...nn.padding import pad_to_multiple
from .masking import masked_reconstruction_loss

MOMENTUM = 0.996
WEIGHT = 1.0


def token_cosine_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """``mean (1 - cos)`` between token states ``(B, N, d)`` of the same tokens; in [0, 2]."""
    return (1 - torch.nn.functional.cosine_similarity(student.float(), teacher.float(), dim=-1)).mean()


@contextmanager
def last_token_states(model: Bright4B) -> Iterator[list[torch.Tensor]]:
    """Inside the block, each forward pass of ``model`` leaves its last layer's unit-norm token
    states ``(B, N, d)`` (block-major, streams averaged) in the list it yields."""
    kept: list[torch.Tensor] = []

    def keep(module, args, streams: torch.Tensor) -> None:
        kept[:] = [l2norm(streams.mean(1))]

    handle = model.blocks[-1].register_forward_hook(keep)
    try:
        yield kept
    finally:
        handle.remove()


class EmaTeacher:
    """A frozen copy of ``student`` that follows it by :meth:`update`."""

    def __init__(self, student: Bright4B, momentum: float = MOMENTUM):
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"the EMA momentum must be in [0, 1), got {momentum}")
        weight = next(student.parameters())
        self.model = Bright4B(student.config, student.head_config).to(weight.device, weight.dtype)
        self.model.load_state_dict(student.state_dict())
        self.model.eval().requires_grad_(False)
        self.momentum = momentum

    @torch.no_grad()
    def update(self, student: Bright4B) -> None:
        """``w_t <- m w_t + (1 - m) w_s`` for every weight, then the unit-norm ones renormalized."""
        for mine, theirs in zip(self.model.parameters(), student.parameters(), strict=True):
            mine.lerp_(theirs.detach(), 1.0 - self.momentum)
        renormalize_(self.model)

    @torch.no_grad()
    def token_states(self, image: torch.Tensor) -> torch.Tensor:
        """The teacher's last-layer token states ``(B, N, d)`` for the whole ``image``."""
        with last_token_states(self.model) as kept:
            self.model.encode(pad_to_multiple(image, self.model.config.spatial_multiple))
        return kept[0]


@contextmanager
def distillation_loss(student: Bright4B, momentum: float = MOMENTUM, weight: float = WEIGHT):
    """Yields ``loss(output, masked image, target)`` for the trainer: masked reconstruction plus
    ``weight`` times the token cosine loss against an EMA teacher of ``student``, which is
    updated from the student at each call (the student of the step before)."""
    teacher = EmaTeacher(student, momentum)
    with last_token_states(student) as kept:

        def loss(output: torch.Tensor, image: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            teacher.update(student)
            original = target[:, : output.shape[1]]
            distilled = token_cosine_loss(kept[0], teacher.token_states(original.to(kept[0].dtype)))
            return masked_reconstruction_loss(output, image, target) + weight * distilled

        yield loss


def reconstruction_objective(student: Bright4B, ema_teacher: bool):
    """A context yielding the trainer's loss for ``student``: :func:`distillation_loss` with
    ``ema_teacher``, else masked reconstruction alone."""
    return distillation_loss(student) if ema_teacher else nullcontext(masked_reconstruction_loss)
