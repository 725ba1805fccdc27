"""Task heads: segmentation, deblurring and classification on the backbone's outputs.

Every head is called as ``head(features, image, tokens)`` with the decoder's features
``(B, f, D, H, W)`` cropped to the input, the input ``image (B, C, D, H, W)`` and the last
layer's unit-norm tokens ``(B, N, dim)``; :func:`activate` turns a head's raw output into
what users see (probabilities or intensities).
"""

from __future__ import annotations

import math

import torch
from monai.networks.blocks import UnetOutBlock
from torch import nn

from .config import MAX_GAIN, Bright4BConfig, HeadConfig


class SegmentationHead(nn.Module):
    """Per-voxel class logits ``(B, K, D, H, W)``; sigmoid (overlapping) or softmax (exclusive)."""

    def __init__(self, config: Bright4BConfig, head: HeadConfig):
        super().__init__()
        self.config = head
        self.out = UnetOutBlock(spatial_dims=3, in_channels=config.decoder_features, out_channels=head.channels)

    def forward(self, features: torch.Tensor, image: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        return self.out(features)


class DeblurHead(nn.Module):
    """A correction of the (normalized) input ``image``, shape ``(B, C, D, H, W)``: the
    residual ``image + out(features)``, or with a ``multiplicative`` correction the input's
    positive part scaled by ``exp(out(features))`` (:func:`scale_positive`).

    Predicting a correction, as in the light-sheet paper, makes the identity the starting
    point and leaves the model only the blur to undo.
    """

    def __init__(self, config: Bright4BConfig, head: HeadConfig):
        super().__init__()
        self.config = head
        self.out = UnetOutBlock(spatial_dims=3, in_channels=config.decoder_features, out_channels=head.channels)

    def forward(self, features: torch.Tensor, image: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        residual = self.out(features)
        if self.config.correction == "multiplicative":
            return scale_positive(image, residual)
        return image + residual


def scale_positive(image: torch.Tensor, log_gain: torch.Tensor) -> torch.Tensor:
    """``image``'s positive part times ``exp(log_gain)``, the gain bounded smoothly to
    ``[1/MAX_GAIN, MAX_GAIN]``; values at or below the black level 0 pass unchanged. Like a
    Richardson-Lucy update, it can concentrate or thin out light but cannot lay any where
    there is none. Same shape."""
    bound = math.log(MAX_GAIN)
    gain = torch.exp(bound * torch.tanh(log_gain / bound))
    return image + image.clamp(min=0) * (gain - 1)


class AttentionPool(nn.Module):
    """``(B, N, d)`` items -> ``(B, K)`` logits ``sum_n softmax(s)_n z_n``: each item gives
    class logits ``z_n`` and a pooling score ``s_n``, so the few items that show the class
    (a plaque, a soma) can decide."""

    def __init__(self, dim: int, classes: int):
        super().__init__()
        self.logits = nn.Linear(dim, classes)
        self.score = nn.Linear(dim, 1, bias=False)  # a bias would not change the softmax

    def forward(self, items: torch.Tensor) -> torch.Tensor:
        return (self.score(items).softmax(dim=1) * self.logits(items)).sum(dim=1)


class ClassificationHead(nn.Module):
    """Volume-level class logits ``(B, K)``: attention pooling over the last layer's tokens
    (context) plus attention pooling over the decoder's voxels (fine texture).

    Mean pooling would not do: the decoder's features are instance-normalized (zero mean
    per channel by construction) and the mean of unit-norm tokens varies little between
    volumes. Tokens are scaled by ``sqrt(dim)`` to unit variance per channel.
    """

    def __init__(self, config: Bright4BConfig, head: HeadConfig):
        super().__init__()
        self.config = head
        self.token_scale = config.dim**0.5
        self.tokens = AttentionPool(config.dim, head.channels)
        self.voxels = AttentionPool(config.decoder_features, head.channels)

    def forward(self, features: torch.Tensor, image: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        voxels = features.flatten(2).transpose(1, 2)  # (B, Z*Y*X, f)
        return self.tokens(tokens * self.token_scale) + self.voxels(voxels)


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
