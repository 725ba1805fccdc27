"""Mirror padding of ``(B, C, Z, Y, X)`` volumes to multiples of a lattice step.

Unlike ``torch.nn.functional.pad(mode="reflect")`` this works for any pad width,
including sizes of one (a single z-slice), by reflecting with period ``2n - 2``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def mirror_indices(size: int, total: int, device: torch.device | None = None) -> torch.Tensor:
    """Indices ``(total,)`` into an axis of length ``size`` that mirror past its end."""
    idx = torch.arange(total, device=device)
    if size == 1:
        return torch.zeros_like(idx)
    period = 2 * size - 2
    idx = idx % period
    return torch.where(idx < size, idx, period - idx)


def padded_shape(shape: Sequence[int], multiple: Sequence[int]) -> tuple[int, ...]:
    """The smallest shape ``>= shape`` whose sizes are multiples of ``multiple``."""
    return tuple(-(-s // m) * m for s, m in zip(shape, multiple))


def pad_to_multiple(x: torch.Tensor, multiple: Sequence[int]) -> torch.Tensor:
    """Mirror-pad the trailing three axes of ``x`` at their far end to ``multiple``."""
    spatial = tuple(x.shape[-3:])
    target = padded_shape(spatial, multiple)
    for axis, (size, new) in enumerate(zip(spatial, target)):
        if new != size:
            dim = x.ndim - 3 + axis
            x = x.index_select(dim, mirror_indices(size, new, x.device))
    return x


def crop_to(x: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
    """Crop the trailing three axes of ``x`` to ``shape`` (undoes :func:`pad_to_multiple`)."""
    z, y, w = shape
    return x[..., :z, :y, :w]
