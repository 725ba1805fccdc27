"""Soft Mixture of Experts on the hypersphere (Bright-4B section 3.4, D.2 eq. 15-17).

With tokens ``X (m, d)`` and slot keys ``Phi (d, s)``, both unit-normalized along
``d``, the logits are ``L = scale * norm(X) norm(Phi)``. Dispatch ``D`` is the softmax
of ``L`` over tokens (each slot is a convex combination of tokens), combine ``C`` the
softmax over slots (each token is a convex combination of slot outputs). ``s`` is fixed
whatever the number of tokens. The ``n`` experts are stacked weights run with one
batched matmul. The module keeps no routing: :meth:`routing` recomputes it from the
input (a forward hook can, see ``analysis/capture.py``).

With ``centred`` the router reads each token minus a running mean token of its residual
stream (``router_centre (streams, dim)``, a buffer updated in training like a batch norm's
mean and fixed in evaluation), so routing drops the direction every token shares and does
not depend on which tile a token was cut with.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .hypersphere import l2norm, mark_unit_norm


def mean_entropy(probs: torch.Tensor, dim: int) -> torch.Tensor:
    """Mean entropy (nats) of the distributions along ``dim`` of ``probs``."""
    return -(probs * probs.clamp_min(1e-12).log()).sum(dim).mean()


class HypersphericalSoftMoE(nn.Module):
    """Soft MoE over ``(B, m, dim)`` tokens with ``num_experts * slots_per_expert`` slots.

    After each forward ``balance_loss`` holds eq. 17 read as balancing the *load* (the
    entropy of aggregates, not of each token's routing; docs/architecture.md), so experts
    can specialize: ``weight * (load + coverage + confidence * sharpness)`` where
    ``load = 1 - H(mean_t C_expert) / log n`` (each expert's share of the combine weight,
    averaged over the batch's tokens of one residual stream, then over the ``streams``),
    ``coverage = 1 - H(mean_s D) / log m`` (how evenly the slots read the tokens) and
    ``sharpness = mean_t H(C_t) / log s`` (a token's own routing may, and is nudged to,
    become confident). Each term is in [0, 1].
    """

    centre_momentum = 0.01  # the running centre's update rate after its first 1 / momentum updates

    def __init__(
        self,
        dim: int,
        num_experts: int,
        slots_per_expert: int,
        expert_hidden: int,
        balance_weight: float = 0.01,
        logit_scale: float = 10.0,
        confidence_weight: float = 0.5,
        centred: bool = False,
        streams: int = 1,
        context_width: int = 0,
    ):
        super().__init__()
        self.num_experts, self.slots_per_expert = num_experts, slots_per_expert
        self.balance_weight, self.confidence_weight, self.centred = balance_weight, confidence_weight, centred
        self.streams = streams
        slots = num_experts * slots_per_expert
        self.slot_keys = nn.Parameter(torch.randn(dim, slots))
        self.logit_scale = nn.Parameter(torch.tensor(float(logit_scale)))
        self.w_in = nn.Parameter(torch.randn(num_experts, dim, expert_hidden))
        self.w_out = nn.Parameter(torch.randn(num_experts, expert_hidden, dim))
        mark_unit_norm(self, "slot_keys", dim=0)
        mark_unit_norm(self, "w_in", dim=1)
        mark_unit_norm(self, "w_out", dim=2)
        self.balance_loss = torch.zeros(())
        if centred:
            self.register_buffer("router_centre", torch.zeros(streams, dim))
            self.register_buffer("router_centre_updates", torch.zeros(()))  # a float: checkpoints hold floats
        self.router_context = nn.Parameter(torch.zeros(context_width, dim)) if context_width else None

    @property
    def num_slots(self) -> int:
        return self.num_experts * self.slots_per_expert

    def routing(self, x: torch.Tensor, context: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Dispatch and combine weights ``(B * streams, m, s)`` for tokens ``x (B * streams, m,
        dim)`` and, with ``context_width``, their ``context (B, m, context_width)``."""
        if (context is None) != (self.router_context is None):
            raise ValueError(
                "this router reads a context per token: pass context (B, m, context_width)"
                if context is None
                else "this router has no context weights (context_width=0): call it without a context"
            )
        if self.centred:  # in float32: the common part can dwarf what is left in bf16
            x = (x.float().unflatten(0, (-1, self.streams)) - self.router_centre[:, None]).flatten(0, 1)
        if context is not None:
            x = x + (context @ self.router_context.to(context.dtype)).repeat_interleave(self.streams, 0).to(x.dtype)
        logits = (l2norm(x) @ l2norm(self.slot_keys, 0).to(x.dtype)).float() * self.logit_scale
        return logits.softmax(dim=1), logits.softmax(dim=2)

    @torch.no_grad()
    def update_centre(self, x: torch.Tensor) -> None:
        """Move the running centre towards the mean token per stream of ``x (B * streams, m,
        dim)``: a plain average over the first updates, then at ``centre_momentum``."""
        rate = (1 / (self.router_centre_updates + 1)).clamp_min(self.centre_momentum)  # on device: no sync
        batch_mean = x.float().unflatten(0, (-1, self.streams)).mean((0, 2))
        self.router_centre.lerp_(batch_mean.to(self.router_centre.dtype), rate.to(self.router_centre.dtype))
        self.router_centre_updates += 1

    def experts(self, slots: torch.Tensor) -> torch.Tensor:
        """Apply expert ``e`` to its slots: ``(B, s, dim) -> (B, s, dim)``, one bmm per layer."""
        b, s, d = slots.shape
        per_expert = slots.view(b, self.num_experts, self.slots_per_expert, d).transpose(0, 1)
        per_expert = per_expert.reshape(self.num_experts, b * self.slots_per_expert, d)
        # Unit slots against unit columns give cosines; sqrt(d) restores unit-variance inputs.
        hidden = F.gelu(torch.bmm(per_expert, self.w_in.to(slots.dtype)) * math.sqrt(d))
        out = torch.bmm(hidden, self.w_out.to(slots.dtype))
        return out.view(self.num_experts, b, self.slots_per_expert, d).transpose(0, 1).reshape(b, s, d)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        """``x (B * streams, m, dim)`` (and ``context (B, m, c)``, see :meth:`routing`) -> like ``x``."""
        if self.centred and self.training and torch.is_grad_enabled():
            self.update_centre(x)
        dispatch, combine = self.routing(x, context)
        slots = l2norm(torch.einsum("bms,bmd->bsd", dispatch.to(x.dtype), x))
        y = torch.einsum("bms,bsd->bmd", combine.to(x.dtype), self.experts(slots))
        self.balance_loss = self.balance_weight * self.load_balance(dispatch, combine)
        return y

    def load_balance(self, dispatch: torch.Tensor, combine: torch.Tensor) -> torch.Tensor:
        """``load + coverage + confidence_weight * sharpness`` (class docstring) of dispatch and
        combine weights ``(B * streams, m, s)``, stream-minor as the hyper-connections fold them:
        0 for confident tokens spread evenly over the experts in every stream.

        The load is balanced per stream: pooled over streams, each stream could keep to its
        own subset of the experts (the streams differ by an offset the router sees) and split
        its tokens there by anything at all, balanced in aggregate and blind to content."""
        m, s = dispatch.shape[1], dispatch.shape[2]
        per_expert = combine.unflatten(-1, (self.num_experts, self.slots_per_expert)).sum(-1)
        usage = per_expert.unflatten(0, (-1, self.streams)).mean((0, 2))  # (streams, experts)
        load = (
            1 - mean_entropy(usage, dim=1) / math.log(self.num_experts) if self.num_experts > 1 else usage.new_zeros(())
        )
        read = dispatch.mean(2)  # (B, m): how much the slots read each token, a distribution over tokens
        coverage = 1 - mean_entropy(read, dim=1) / math.log(m) if m > 1 else dispatch.new_zeros(())
        sharpness = mean_entropy(combine, dim=2) / math.log(s) if s > 1 else combine.new_zeros(())
        return load + coverage + self.confidence_weight * sharpness
