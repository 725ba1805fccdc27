"""Anisotropic UNETR decoder (Bright-4B section D), built from MONAI's UNETR blocks.

Token maps tapped at layers L/4, L/2, 3L/4 and L (each ``(B, dim, D', H', W')``) are
lifted back to full resolution through ``(1, 2, 2)`` stages and one final
``(1 or p_z, 2, 2)`` stage, so a ``(p_z, 16, 16)`` patch is undone exactly.

The full-resolution stage is where a 3D decoder spends its time and where fine
structures are drawn. ``stem="unetr"`` is UNETR's own: a residual block on the image
(UNETR's encoder1) fused with the up-sampled features by a residual block, four 3x3x3
convolutions per voxel that let thin structures (mitochondria, nucleoli) be recognised
at full resolution. ``stem="light"`` concatenates the raw image with the up-sampled
features and runs one 3x3x3 convolution, a quarter of the work, for throughput. Every
coarser stage is MONAI's UNETR block.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from monai.networks.blocks import Convolution, UnetrBasicBlock, UnetrPrUpBlock, UnetrUpBlock
from monai.networks.blocks.dynunet_block import get_conv_layer
from torch import nn

XY_STAGE = (1, 2, 2)
NORM = "instance"
ACT = ("leakyrelu", {"inplace": True, "negative_slope": 0.01})


STEMS = ("unetr", "light")


class UnetrFullResolutionStage(nn.Module):
    """``(B, cin, D', H', W')`` features + ``(B, C, D, H, W)`` image -> ``(B, cout, D, H, W)``:
    UNETR's encoder1 (a residual block on the image) and its decoder2 (a transposed
    convolution by ``stage``, then a residual block on the concatenation)."""

    def __init__(self, cin: int, cout: int, image_channels: int, stage: Sequence[int]):
        super().__init__()
        common = dict(spatial_dims=3, kernel_size=3, norm_name=NORM, res_block=True)
        self.encoder1 = UnetrBasicBlock(in_channels=image_channels, out_channels=cout, stride=1, **common)
        self.decoder2 = UnetrUpBlock(in_channels=cin, out_channels=cout, upsample_kernel_size=stage, **common)

    def forward(self, features: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        return self.decoder2(features, self.encoder1(image))


class LightFullResolutionStage(nn.Module):
    """``(B, cin, D', H', W')`` features + ``(B, C, D, H, W)`` image -> ``(B, cout, D, H, W)``:
    a transposed convolution by ``stage``, the image concatenated, one 3x3x3 conv-norm-act."""

    def __init__(self, cin: int, cout: int, image_channels: int, stage: Sequence[int]):
        super().__init__()
        self.up = get_conv_layer(3, cin, cout, kernel_size=stage, stride=stage, conv_only=True, is_transposed=True)
        self.fuse = Convolution(
            3, cout + image_channels, cout, kernel_size=3, act=ACT, norm=NORM, bias=False, adn_ordering="NA"
        )

    def forward(self, features: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        return self.fuse(torch.cat([self.up(features), image], dim=1))


def last_stage(patch: Sequence[int]) -> tuple[int, int, int]:
    """The final up-sampling factor, which also undoes the z decimation ``p_z``."""
    return (patch[0], 2, 2)


def check_patch(patch: Sequence[int]) -> None:
    if tuple(patch[1:]) != (16, 16) or patch[0] not in (1, 2):
        raise ValueError(f"the UNETR decoder undoes patches (1|2, 16, 16), got {tuple(patch)}")


class UnetrDecoder(nn.Module):
    """``4 x (B, dim, D', H', W')`` taps + ``(B, C, D, H, W)`` input -> ``(B, features, D, H, W)``."""

    def __init__(
        self, in_channels: int, dim: int, features: int, patch: Sequence[int] = (2, 16, 16), stem: str = "unetr"
    ):
        super().__init__()
        check_patch(patch)
        if stem not in STEMS:
            raise ValueError(f"decoder stem must be one of {STEMS}, got {stem!r}")
        f = features
        common = dict(spatial_dims=3, kernel_size=3, norm_name=NORM, res_block=True)
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
        full_resolution = UnetrFullResolutionStage if stem == "unetr" else LightFullResolutionStage
        self.decoder2 = full_resolution(2 * f, f, in_channels, last_stage(patch))

    def forward(self, x: torch.Tensor, taps: Sequence[torch.Tensor]) -> torch.Tensor:
        t1, t2, t3, t4 = taps
        skip2 = self.encoder2(t1)
        skip3 = self.encoder3(t2)
        skip4 = self.encoder4(t3)
        up = self.decoder5(t4, skip4)
        up = self.decoder4(up, skip3)
        up = self.decoder3(up, skip2)
        return self.decoder2(up, x)
