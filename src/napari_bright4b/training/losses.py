"""Training losses. Masks ``(B, 1, Z, Y, X)`` select the voxels that count (1) and those
that do not (0), so sparse (painted) labels train only where they are painted."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _masked_mean(values: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    if mask is None:
        return values.mean()
    weights = mask.expand_as(values).to(values.dtype)
    return (values * weights).sum() / weights.sum().clamp_min(1.0)


def soft_dice_loss(probabilities: torch.Tensor, onehot: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """1 - soft Dice per (sample, channel), averaged; ``(B, K, ...)`` probabilities and targets."""
    if mask is not None:
        probabilities, onehot = probabilities * mask, onehot * mask
    dims = tuple(range(2, probabilities.ndim))
    intersection = (probabilities * onehot).sum(dims)
    total = probabilities.sum(dims) + onehot.sum(dims)
    return (1 - (2 * intersection + 1.0) / (total + 1.0)).mean()


def segmentation_loss(
    logits: torch.Tensor, target: torch.Tensor, activation: str, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Dice + BCE (``sigmoid``: ``target (B, K, ...)`` in {0, 1}) or Dice + CE (``softmax``:
    ``target (B, 1, ...)`` class indices)."""
    if activation == "sigmoid":
        target = target.to(logits.dtype)
        bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
        return _masked_mean(bce, mask) + soft_dice_loss(torch.sigmoid(logits), target, mask)
    if activation == "softmax":
        classes = target[:, 0].long()
        ce = F.cross_entropy(logits, classes, reduction="none")[:, None]
        onehot = F.one_hot(classes, logits.shape[1]).movedim(-1, 1).to(logits.dtype)
        return _masked_mean(ce, mask) + soft_dice_loss(torch.softmax(logits, 1), onehot, mask)
    raise ValueError(f"segmentation activation must be sigmoid or softmax, got {activation!r}")


def painted_loss(logits: torch.Tensor, painted: torch.Tensor) -> torch.Tensor:
    """Dice + CE of softmax ``logits (B, K, ...)`` on painted voxels only: ``painted (B, 1, ...)``
    holds 0 where nothing is painted and ``k + 1`` where class ``k`` is painted."""
    return segmentation_loss(logits, (painted.long() - 1).clamp_min(0), "softmax", mask=painted > 0)


def _gradients(x: torch.Tensor) -> list[torch.Tensor]:
    return [torch.diff(x, dim=d) for d in range(2, x.ndim)]


def _high_pass(x: torch.Tensor) -> torch.Tensor:
    """The image minus its 3x3x3 box average: the finest detail."""
    return x - F.avg_pool3d(F.pad(x, (1,) * 6, mode="replicate"), 3, stride=1)


def deblur_loss(restored: torch.Tensor, sharp: torch.Tensor) -> torch.Tensor:
    """The light-sheet paper's restoration loss on ``(B, C, Z, Y, X)``:
    L1 + 0.2 (1 - SSIM) + 0.1 edge (L1 of finite differences) + 0.1 high-frequency."""
    from monai.losses import SSIMLoss

    data_range = (sharp.amax() - sharp.amin()).clamp_min(1e-6)
    ssim = SSIMLoss(spatial_dims=3, data_range=data_range, win_size=min(7, *sharp.shape[2:]) | 1)
    edge = sum(F.l1_loss(a, b) for a, b in zip(_gradients(restored), _gradients(sharp)))
    return (
        F.l1_loss(restored, sharp)
        + 0.2 * ssim(restored, sharp)
        + 0.1 * edge
        + 0.1 * F.l1_loss(_high_pass(restored), _high_pass(sharp))
    )


def classification_loss(logits: torch.Tensor, classes: torch.Tensor, weights: torch.Tensor | None = None):
    """Cross-entropy of ``(B, K)`` logits against ``(B,)`` class indices, optionally class-weighted."""
    return F.cross_entropy(logits, classes, weight=weights)
