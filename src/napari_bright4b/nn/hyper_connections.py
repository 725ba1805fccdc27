"""Dynamic Hyper-Connections on the hypersphere (Bright-4B section 3.5, D eq. 1-5).

``E`` residual streams ``H (B, E, m, d)`` are kept unit-norm. From their token means
the connection computes a width mixer ``M = A_w + s_alpha * tanh(mean_t H W_w)``
(``A_w`` starts at the identity) and a per-channel depth gate
``alpha = alpha_0 + s_beta * sigmoid(mean_t H W_beta)``. The streams are mixed by
``M``, renormalized, passed through the sublayer, and each stream takes a normalized
LERP step towards the sublayer's normalized output. With ``E = 1`` and
``s_alpha = s_beta = 0`` this is exactly the nGPT residual
``norm(h + alpha_0 * (norm(f(h)) - h))``, the hypersphere's pre-norm residual.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from .hypersphere import l2norm, spherical_update


class DynamicHyperConnection(nn.Module):
    """Wraps one sublayer ``f: (B*E, m, d) -> (B*E, m, d)`` acting on ``E`` streams."""

    def __init__(
        self,
        dim: int,
        streams: int,
        step_init: float = 0.05,
        width_scale: float = 0.01,
        depth_scale: float = 0.01,
    ):
        super().__init__()
        self.streams = streams
        self.width_base = nn.Parameter(torch.eye(streams))
        self.width_weight = nn.Parameter(torch.randn(dim, streams) / math.sqrt(dim))
        self.width_scale = nn.Parameter(torch.tensor(float(width_scale)))
        self.depth_weight = nn.Parameter(torch.randn(streams * dim, dim) / math.sqrt(streams * dim))
        self.depth_scale = nn.Parameter(torch.tensor(float(depth_scale)))
        self.step = nn.Parameter(torch.full((dim,), float(step_init)))

    def width_mixer(self, pooled: torch.Tensor) -> torch.Tensor:
        """``(B, E, d)`` stream means -> ``(B, E, E)`` mixing matrices (eq. 2)."""
        return self.width_base + self.width_scale * torch.tanh(pooled @ self.width_weight)

    def depth_gate(self, pooled: torch.Tensor) -> torch.Tensor:
        """``(B, E, d)`` stream means -> ``(B, d)`` per-channel steps (eq. 3)."""
        return self.step + self.depth_scale * torch.sigmoid(pooled.flatten(1) @ self.depth_weight)

    def forward(self, streams: torch.Tensor, sublayer: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        b, e, m, d = streams.shape
        unit = l2norm(streams)
        pooled = unit.float().mean(2).to(streams.dtype)
        mixer = self.width_mixer(pooled).to(streams.dtype)
        mixed = l2norm(torch.einsum("bef,bfmd->bemd", mixer, unit))
        update = sublayer(mixed.reshape(b * e, m, d)).view(b, e, m, d)
        alpha = self.depth_gate(pooled).to(streams.dtype)[:, None, None, :]
        return spherical_update(unit, update, alpha)
