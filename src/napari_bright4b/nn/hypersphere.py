"""Geometry on the unit hypersphere (nGPT; Bright-4B sections 3.1 and D).

Every hidden state lives on the unit sphere along its last dimension. A block
proposes an update ``u``; the state moves towards ``norm(u)`` by a learned
per-channel step ``alpha`` and is projected back (LERP + L2 normalization, the
small-angle approximation of SLERP). Weight matrices whose rows or columns live in
the embedding space are renormalized after each optimizer step.
"""

from __future__ import annotations

import torch
from torch import nn

EPS = 1e-6
_UNIT_NORM_DIMS = "_unit_norm_dims"


def l2norm(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """``x / ||x||`` along ``dim``; computed in float32 for half-precision inputs."""
    norm = x.float().norm(dim=dim, keepdim=True).clamp_min(EPS)
    return (x.float() / norm).to(x.dtype)


@torch.no_grad()
def _normalize_(param: torch.Tensor, dim: int) -> None:
    """In-place ``l2norm`` of a weight: the norm is accumulated in float32 without a
    float32 copy of the weight (billions of bfloat16 weights stay bfloat16)."""
    norm = torch.linalg.vector_norm(param, dim=dim, keepdim=True, dtype=torch.float32).clamp_min(EPS)
    param.div_(norm.to(param.dtype))


class LearnedScale(nn.Module):
    """A learned per-channel scale ``s`` (shape ``(dim,)``), initialised to ``init``."""

    def __init__(self, dim: int, init: float = 1.0):
        super().__init__()
        self.scale = nn.Parameter(torch.full((dim,), float(init)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale.to(x.dtype)


def spherical_update(h: torch.Tensor, u: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """Normalized LERP: ``norm(h + alpha * (norm(u) - h))``.

    ``h``: unit-norm states ``(..., d)``; ``u``: proposals ``(..., d)``; ``alpha``:
    per-channel steps broadcastable to ``(..., d)``.
    """
    return l2norm(h + alpha * (l2norm(u) - h))


@torch.no_grad()
def mark_unit_norm(module: nn.Module, name: str, dim: int) -> None:
    """Normalize ``module.<name>`` along ``dim`` and keep it so in :func:`renormalize_`.

    The mark lives on the module, so it survives ``load_state_dict(assign=True)``.
    """
    marks = module.__dict__.setdefault(_UNIT_NORM_DIMS, {})
    marks[name] = dim
    _normalize_(getattr(module, name), dim)


@torch.no_grad()
def renormalize_(model: nn.Module) -> int:
    """Project every marked weight back onto the sphere (call after ``optimizer.step``).

    Returns the number of tensors renormalized.
    """
    count = 0
    for module in model.modules():
        for name, dim in module.__dict__.get(_UNIT_NORM_DIMS, {}).items():
            _normalize_(getattr(module, name), dim)
            count += 1
    return count
