"""Per-token statistics of Soft-MoE routing and NSA path gates, from one forward pass.

Soft MoE routes token ``t`` to slot ``j`` with combine weight ``C[t, j]`` (a distribution
over the ``s = experts * slots_per_expert`` slots; slot ``j`` belongs to expert
``j // slots_per_expert``). Bright-4B runs ``E`` hyper-connection streams through each
sublayer, so every tensor here carries ``B * E`` rows, stream-minor; statistics are
computed per stream and averaged over the streams.
"""

from __future__ import annotations

import math

import torch


def normalized_entropy(probs: torch.Tensor) -> torch.Tensor:
    """Entropy of the distributions along the last axis over its maximum ``log n``: ``(...)``
    in [0, 1], 0 for a one-hot distribution, 1 for a uniform one (0 when ``n = 1``)."""
    n = probs.shape[-1]
    if n == 1:
        return probs.new_zeros(probs.shape[:-1])
    entropy = -(probs * probs.clamp_min(1e-12).log()).sum(-1)
    return (entropy / math.log(n)).clamp(0.0, 1.0)


def expert_weights(combine: torch.Tensor, num_experts: int) -> torch.Tensor:
    """Combine weights ``(..., s)`` summed over each expert's slots: ``(..., num_experts)``."""
    return combine.unflatten(-1, (num_experts, combine.shape[-1] // num_experts)).sum(-1)


def per_stream(values: torch.Tensor, streams: int) -> torch.Tensor:
    """``(B * E, ...)`` rows of a sublayer (streams folded into the batch) -> ``(B, E, ...)``."""
    return values.unflatten(0, (values.shape[0] // streams, streams))


def routing_maps(combine: torch.Tensor, num_experts: int, streams: int) -> tuple[torch.Tensor, torch.Tensor]:
    """From combine weights ``(B * E, m, s)``: the routing entropy over slots ``(B, m)`` in
    [0, 1] and each expert's share of the combine weight ``(B, m, experts)`` (sums to 1 over
    experts), both averaged over the ``E`` streams; tokens keep their order."""
    combine = per_stream(combine.float(), streams)
    return normalized_entropy(combine).mean(1), expert_weights(combine, num_experts).mean(1)


def gate_maps(gates: torch.Tensor, streams: int) -> torch.Tensor:
    """NSA gates ``(B * E, m, heads, 3)`` -> the mean over heads and streams ``(B, m, 3)``
    (compression, selection, window); tokens keep their order."""
    return per_stream(gates.float(), streams).mean(dim=(1, 3))
