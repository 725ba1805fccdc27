"""Task heads on the decoder's full-resolution features."""

from __future__ import annotations

import torch
from monai.networks.blocks import UnetOutBlock
from torch import nn

from .config import HeadConfig


class SegmentationHead(nn.Module):
    """``(B, features, D, H, W)`` -> ``(B, C, D, H, W)`` logits, one channel per class."""

    def __init__(self, features: int, head: HeadConfig):
        super().__init__()
        self.config = head
        self.out = UnetOutBlock(spatial_dims=3, in_channels=features, out_channels=head.channels)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.out(features)

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, C, ...)`` -> per-class probabilities of the same shape."""
        if self.config.activation == "softmax":
            return logits.softmax(dim=1)
        return torch.sigmoid(logits)


def build_head(features: int, head: HeadConfig) -> nn.Module:
    if head.task == "segment":
        return SegmentationHead(features, head)
    raise ValueError(f"no head for task {head.task!r}")
