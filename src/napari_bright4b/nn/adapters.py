"""Low-rank adapters (LoRA) on weights kept on the hypersphere, and their merge.

An adapted weight is ``W' = W + (alpha / r) U D`` with ``U (..., m, r)`` and
``D (..., r, n)`` for a weight ``W (..., m, n)``; leading dimensions are stacked experts,
each with its own factors, applied by one batched matmul. ``U`` starts at zero, so an
adapted model starts exactly equal to its base. A weight that nGPT keeps unit-norm along
a dimension (:func:`~.hypersphere.mark_unit_norm`) is normalized again after the delta,
so the effective weight stays on the sphere whatever the factors.

Adapters are registered as ``torch.nn.utils.parametrize`` parametrizations: the module
reads ``W'`` wherever it read ``W``. :func:`merge_adapters` writes ``W'`` into the plain
weights and removes the adapters, leaving the module exactly as it was built, so an
adapted model saves and loads as an ordinary checkpoint and computes the same outputs.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils import parametrize

from .hypersphere import _UNIT_NORM_DIMS, l2norm


class LowRankDelta(nn.Module):
    """The parametrization ``W -> W + (alpha / rank) U D``, normalized along ``unit_dim``
    (``None``: not normalized). ``shape``: the weight's ``(..., m, n)``."""

    def __init__(self, shape: torch.Size, rank: int, alpha: float, unit_dim: int | None):
        super().__init__()
        *stack, m, n = shape
        self.rank, self.scale, self.unit_dim = rank, alpha / rank, unit_dim
        self.down = nn.Parameter(torch.randn(*stack, rank, n) / math.sqrt(n))
        self.up = nn.Parameter(torch.zeros(*stack, m, rank))

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        delta = torch.matmul(self.up, self.down).to(weight.dtype)  # a bmm over stacked experts
        adapted = weight + self.scale * delta
        return adapted if self.unit_dim is None else l2norm(adapted, self.unit_dim)


def unit_norm_dim(module: nn.Module, name: str) -> int | None:
    """The dimension along which ``module.<name>`` is kept unit-norm, if it is."""
    return module.__dict__.get(_UNIT_NORM_DIMS, {}).get(name)


def add_adapter(module: nn.Module, name: str, rank: int, alpha: float | None = None) -> LowRankDelta:
    """Adapt ``module.<name>`` (a 2D or stacked 3D weight) by a :class:`LowRankDelta` of
    ``rank`` (``alpha`` defaults to ``rank``: a scale of 1); the weight itself is frozen."""
    weight = getattr(module, name)
    weight.requires_grad_(False)
    delta = LowRankDelta(weight.shape, rank, float(alpha or rank), unit_norm_dim(module, name))
    delta.to(device=weight.device, dtype=weight.dtype)
    parametrize.register_parametrization(module, name, delta)
    return delta


def adapters(model: nn.Module) -> list[LowRankDelta]:
    """Every :class:`LowRankDelta` registered in ``model``."""
    return [m for m in model.modules() if isinstance(m, LowRankDelta)]


@torch.no_grad()
def merge_adapters(model: nn.Module) -> int:
    """Write every adapted weight ``W'`` into its plain weight and remove the adapters, in place.

    Returns the number of weights merged.
    """
    count = 0
    for module in list(model.modules()):
        if not parametrize.is_parametrized(module):
            continue
        for name in list(module.parametrizations.keys()):
            if any(isinstance(p, LowRankDelta) for p in module.parametrizations[name]):
                parametrize.remove_parametrizations(module, name, leave_parametrized=True)
                count += 1
    return count
