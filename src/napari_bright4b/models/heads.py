"""Task heads: segmentation, deblurring and classification on the backbone's outputs.

Every head is called as ``head(features, image, tokens)`` with the decoder's features
``(B, f, D, H, W)`` cropped to the input, the input ``image (B, C, D, H, W)`` and the last
layer's unit-norm tokens ``(B, N, dim)``; :func:`activate` turns a head's raw output into
what users see (probabilities or intensities).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from monai.networks.blocks import UnetOutBlock
from torch import nn

from .config import Bright4BConfig, HeadConfig


class SegmentationHead(nn.Module):
    """Per-voxel class logits ``(B, K, D, H, W)``; sigmoid (overlapping) or softmax (exclusive)."""

    def __init__(self, config: Bright4BConfig, head: HeadConfig):
        super().__init__()
        self.config = head
        self.out = UnetOutBlock(spatial_dims=3, in_channels=config.decoder_features, out_channels=head.channels)

    def forward(self, features: torch.Tensor, image: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        return self.out(features)


def local_mean(x: torch.Tensor, sigmas: tuple[float, float, float]) -> torch.Tensor:
    """``x (B, C, Z, Y, X)`` averaged under a Gaussian of ``sigmas`` (voxels, z, y, x; 3 sigma
    each side) over the voxels that exist: near an edge the window's outside part is left out
    and the rest reweighted (normalized convolution), so no edge value is counted twice.
    Same shape."""
    ones = torch.ones((1, 1, *x.shape[2:]), device=x.device, dtype=x.dtype)
    for axis, sigma in enumerate(sigmas):
        radius = math.ceil(3 * sigma)
        offsets = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
        shape = [1, 1, 1]
        shape[axis] = 2 * radius + 1
        kernel = torch.exp(-0.5 * (offsets / sigma) ** 2).view(1, 1, *shape)
        padding = [0, 0, 0]
        padding[axis] = radius
        x = F.conv3d(x, kernel.expand(x.shape[1], 1, *shape), padding=padding, groups=x.shape[1])
        ones = F.conv3d(ones, kernel, padding=padding)
    return x / ones


class DeblurHead(nn.Module):
    """A residual on the (normalized) input: ``image + out(features)``, shape ``(B, C, D, H, W)``.

    Predicting the residual, as in the light-sheet paper, makes the identity the
    starting point and leaves the model only the blur to undo. With the head's
    ``flux_window`` the residual minus its :func:`local_mean` is added instead: a blur
    conserves flux, so undoing it only moves intensity, and no haze can be laid over an
    empty region wider than the window.
    """

    def __init__(self, config: Bright4BConfig, head: HeadConfig):
        super().__init__()
        self.config = head
        self.out = UnetOutBlock(spatial_dims=3, in_channels=config.decoder_features, out_channels=head.channels)

    def forward(self, features: torch.Tensor, image: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        residual = self.out(features)
        if self.config.flux_window is not None:
            residual = residual - local_mean(residual, self.config.flux_window)
        return image + residual


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
