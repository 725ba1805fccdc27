"""Anisotropic patch embedding (Bright-4B section 3.2).

A depthwise Conv3d with kernel and stride ``(p_z, 1, 1)`` low-passes and decimates
along z only (initialised as a box filter); non-overlapping ``(p_y, p_x)`` tiles are
folded into channels and projected to ``dim`` by a bias-free linear layer. ``p_z``
never enters the token dimension. Tokens leave unit-normalized.
"""

from __future__ import annotations

import torch
from torch import nn

from .hypersphere import l2norm


class AnisotropicPatchEmbed(nn.Module):
    """``(B, C, D, H, W) -> (B, D/p_z, H/p_y, W/p_x, dim)``; input sizes must be multiples of ``patch``."""

    def __init__(self, in_channels: int, dim: int, patch: tuple[int, int, int] = (2, 16, 16)):
        super().__init__()
        self.patch = tuple(patch)
        pz, py, px = self.patch
        self.anti_alias = nn.Conv3d(
            in_channels, in_channels, kernel_size=(pz, 1, 1), stride=(pz, 1, 1), groups=in_channels, bias=False
        )
        nn.init.constant_(self.anti_alias.weight, 1.0 / pz)
        self.proj = nn.Linear(py * px * in_channels, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pz, py, px = self.patch
        b, c, d, h, w = x.shape
        if d % pz or h % py or w % px:
            raise ValueError(f"input spatial shape {(d, h, w)} is not a multiple of the patch {self.patch}")
        x = self.anti_alias(x)
        tiles = x.view(b, c, d // pz, h // py, py, w // px, px).permute(0, 2, 3, 5, 4, 6, 1)
        tiles = tiles.reshape(b, d // pz, h // py, w // px, py * px * c)
        return l2norm(self.proj(tiles))
