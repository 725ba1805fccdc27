"""Anisotropic UNETR decoder (Bright-4B section D), built from MONAI's UNETR blocks.

Token maps tapped at layers L/4, L/2, 3L/4 and L (each ``(B, dim, D', H', W')``) are
lifted back to full resolution through ``(1, 2, 2)`` stages and one final
``(1 or p_z, 2, 2)`` stage, so a ``(p_z, 16, 16)`` patch is undone exactly.

The stem is how the image itself enters the decoder (``stem``):

- ``unetr``: UNETR's own: a residual block on the image (UNETR's encoder1), fused with
  the up-sampled features by a residual block at full resolution.
- ``hybrid``: ``unetr`` plus a strided residual block taking encoder1's features to half
  resolution, added to the first token skip. Tokens of 16x16 voxels carry no detail
  finer than a patch; this gives the half-resolution stage convolutional features of
  its own (TransUNet-style), which small models trained briefly need to find nuclei
  in depth (held-out nuclei Dice after 1000 steps with 8 features: 0.63, against 0.44 for ``unetr``).
- ``pyramid``: ``hybrid`` carried one level further: a second strided residual block
  takes the half-resolution features to quarter resolution, added to the second token
  skip, so thin structures (mitochondria, 2-3 voxels across) are seen by convolutions at
  every level the tokens are too coarse for (TransUNet's hybrid encoder).
- ``light``: the raw image concatenated with the up-sampled features and one 3x3x3
  convolution, a quarter of ``unetr``'s full-resolution work, for throughput.

Every coarser stage is MONAI's UNETR block.
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


STEMS = ("unetr", "hybrid", "pyramid", "light")


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
    """``4 x (B, dim, D', H', W')`` taps + the :meth:`stem` of a ``(B, C, D, H, W)`` input ->
    ``(B, features, D, H, W)``."""

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
        self.encoder1 = self.half_resolution = self.quarter_resolution = None
        if stem == "light":
            self.decoder2 = LightFullResolutionStage(2 * f, f, in_channels, last_stage(patch))
        else:
            self.encoder1 = UnetrBasicBlock(in_channels=in_channels, out_channels=f, stride=1, **common)
            self.decoder2 = UnetrUpBlock(
                in_channels=2 * f, out_channels=f, upsample_kernel_size=last_stage(patch), **common
            )
        if stem in ("hybrid", "pyramid"):
            self.half_resolution = UnetrBasicBlock(
                in_channels=f, out_channels=2 * f, stride=last_stage(patch), **common
            )
        if stem == "pyramid":
            self.quarter_resolution = UnetrBasicBlock(in_channels=2 * f, out_channels=4 * f, stride=XY_STAGE, **common)

    def stem(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The image's own features, finest first: ``x (B, C, D, H, W)`` itself (``light``) or
        encoder1's ``(B, f, D, H, W)``, then ``(B, 2f, D/p_z, H/2, W/2)`` (hybrid, pyramid) and
        ``(B, 4f, D/p_z, H/4, W/4)`` (pyramid)."""
        levels = [x if self.encoder1 is None else self.encoder1(x)]
        for stage in (self.half_resolution, self.quarter_resolution):
            if stage is not None:
                levels.append(stage(levels[-1]))
        return levels

    def forward(self, levels: Sequence[torch.Tensor], taps: Sequence[torch.Tensor]) -> torch.Tensor:
        """:meth:`stem`'s ``levels`` of the input and the 4 token taps -> ``(B, f, D, H, W)``."""
        t1, t2, t3, t4 = taps
        skip2, skip3 = self.encoder2(t1), self.encoder3(t2)
        if len(levels) > 1:
            skip2 = skip2 + levels[1]
        if len(levels) > 2:
            skip3 = skip3 + levels[2]
        skip4 = self.encoder4(t3)
        up = self.decoder5(t4, skip4)
        up = self.decoder4(up, skip3)
        up = self.decoder3(up, skip2)
        return self.decoder2(up, levels[0])
