"""Task heads: segmentation, deblurring and classification on the backbone's outputs.

Every head is called as ``head(features, image, tokens)`` with the decoder's features
``(B, f, D, H, W)`` cropped to the input, the input ``image (B, C, D, H, W)`` and the last
layer's unit-norm tokens ``(B, N, dim)``; :func:`activate` turns a head's raw output into
what users see (probabilities or intensities).
"""

from __future__ import annotations

import torch
from monai.networks.blocks import UnetOutBlock
from torch import nn

from ..nn.hypersphere import l2norm
from .config import Bright4BConfig, HeadConfig


class SegmentationHead(nn.Module):
    """Per-voxel class logits ``(B, K, D, H, W)``; sigmoid (overlapping) or softmax (exclusive)."""

    def __init__(self, config: Bright4BConfig, head: HeadConfig):
        super().__init__()
        self.config = head
        self.out = UnetOutBlock(spatial_dims=3, in_channels=config.decoder_features, out_channels=head.channels)

    def forward(self, features: torch.Tensor, image: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        return self.out(features)


class DeblurHead(nn.Module):
    """A residual on the (normalized) input: ``image + out(features)``, shape ``(B, C, D, H, W)``.

    Predicting the residual, as in the light-sheet paper, makes the identity the
    starting point and leaves the model only the blur to undo.
    """

    def __init__(self, config: Bright4BConfig, head: HeadConfig):
        super().__init__()
        self.config = head
        self.out = UnetOutBlock(spatial_dims=3, in_channels=config.decoder_features, out_channels=head.channels)

    def forward(self, features: torch.Tensor, image: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        return image + self.out(features)


class ClassificationHead(nn.Module):
    """Volume-level class logits ``(B, K)`` from the spherical mean of the last layer's tokens
    and the mean of the full-resolution decoder features."""

    def __init__(self, config: Bright4BConfig, head: HeadConfig):
        super().__init__()
        self.config = head
        self.linear = nn.Linear(config.dim + config.decoder_features, head.channels)

    def forward(self, features: torch.Tensor, image: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([l2norm(tokens.mean(dim=1)), features.mean(dim=(2, 3, 4))], dim=1)
        return self.linear(pooled)


def activate(head: HeadConfig, raw: torch.Tensor) -> torch.Tensor:
    """Probabilities (sigmoid or softmax over dim 1) or intensities (deblurring: unchanged)."""
    if head.activation == "sigmoid":
        return torch.sigmoid(raw)
    if head.activation == "softmax":
        return raw.softmax(dim=1)
    return raw


HEADS = {"segment": SegmentationHead, "deblur": DeblurHead, "classify": ClassificationHead}


def build_head(config: Bright4BConfig, head: HeadConfig) -> nn.Module:
    head.check_fits(config)
    return HEADS[head.task](config, head)
