"""Anisotropic UNETR decoder (Bright-4B section D), built from MONAI's UNETR blocks.

Token maps tapped at layers L/4, L/2, 3L/4 and L (each ``(B, dim, D', H', W')``) are
lifted back to full resolution through ``(1, 2, 2)`` stages and one final
``(1 or p_z, 2, 2)`` stage, so a ``(p_z, 16, 16)`` patch is undone exactly. The raw
input feeds the full-resolution skip connection.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from monai.networks.blocks import UnetrBasicBlock, UnetrPrUpBlock, UnetrUpBlock
from torch import nn

XY_STAGE = (1, 2, 2)
NORM = "instance"


def last_stage(patch: Sequence[int]) -> tuple[int, int, int]:
    """The final up-sampling factor, which also undoes the z decimation ``p_z``."""
    return (patch[0], 2, 2)


def check_patch(patch: Sequence[int]) -> None:
    if tuple(patch[1:]) != (16, 16) or patch[0] not in (1, 2):
        raise ValueError(f"the UNETR decoder undoes patches (1|2, 16, 16), got {tuple(patch)}")


class UnetrDecoder(nn.Module):
    """``4 x (B, dim, D', H', W')`` taps + ``(B, C, D, H, W)`` input -> ``(B, features, D, H, W)``."""

    def __init__(self, in_channels: int, dim: int, features: int, patch: Sequence[int] = (2, 16, 16)):
        super().__init__()
        check_patch(patch)
        f = features
        common = dict(spatial_dims=3, kernel_size=3, norm_name=NORM, res_block=True)
        self.encoder1 = UnetrBasicBlock(in_channels=in_channels, out_channels=f, stride=1, **common)
        # A tap deeper in the encoder needs fewer (1, 2, 2) up-sampling stages to its level.
        self.encoder2, self.encoder3, self.encoder4 = (
            UnetrPrUpBlock(
                in_channels=dim,
                out_channels=width * f,
                num_layer=extra,
                stride=1,
                upsample_kernel_size=XY_STAGE,
                conv_block=True,
                **common,
            )
            for width, extra in ((2, 2), (4, 1), (8, 0))
        )
        self.decoder5 = UnetrUpBlock(in_channels=dim, out_channels=8 * f, upsample_kernel_size=XY_STAGE, **common)
        self.decoder4 = UnetrUpBlock(in_channels=8 * f, out_channels=4 * f, upsample_kernel_size=XY_STAGE, **common)
        self.decoder3 = UnetrUpBlock(in_channels=4 * f, out_channels=2 * f, upsample_kernel_size=XY_STAGE, **common)
        self.decoder2 = UnetrUpBlock(
            in_channels=2 * f, out_channels=f, upsample_kernel_size=last_stage(patch), **common
        )

    def forward(self, x: torch.Tensor, taps: Sequence[torch.Tensor]) -> torch.Tensor:
        t1, t2, t3, t4 = taps
        skip1 = self.encoder1(x)
        skip2 = self.encoder2(t1)
        skip3 = self.encoder3(t2)
        skip4 = self.encoder4(t3)
        up = self.decoder5(t4, skip4)
        up = self.decoder4(up, skip3)
        up = self.decoder3(up, skip2)
        return self.decoder2(up, skip1)
