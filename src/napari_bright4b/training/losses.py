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


def gaussian_ssim(
    x: torch.Tensor, y: torch.Tensor, data_range: torch.Tensor | float, window: int = 7, sigma: float = 1.5
) -> torch.Tensor:
    """Mean SSIM of ``x`` and ``y (B, C, Z, Y, X)`` over the positions where a Gaussian window
    of ``window`` voxels (std ``sigma``) fits, with the usual constants (0.01 and 0.03 of
    ``data_range``). The window is separable, so it runs as three 1D convolutions: the same
    numbers as MONAI's SSIM with its full 3D kernel, at a fraction of the cost."""
    offsets = torch.arange(window, device=x.device, dtype=x.dtype) - (window - 1) / 2
    weights = torch.exp(-0.5 * (offsets / sigma) ** 2)
    weights = weights / weights.sum()
    channels = x.shape[1]
    moments = torch.cat([x, y, x * x, y * y, x * y], 1)
    for axis in range(3):
        shape = [1, 1, 1]
        shape[axis] = window
        moments = F.conv3d(moments, weights.view(1, 1, *shape).expand(5 * channels, 1, *shape), groups=5 * channels)
    mu_x, mu_y, xx, yy, xy = moments.split(channels, 1)
    var_x, var_y, cov = xx - mu_x**2, yy - mu_y**2, xy - mu_x * mu_y
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    ssim = (2 * mu_x * mu_y + c1) * (2 * cov + c2) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return ssim.mean()


def root_l1(restored: torch.Tensor, sharp: torch.Tensor, floor: float = 1e-3) -> torch.Tensor:
    """L1 between the square roots of the (non-negative parts of the) normalized intensities,
    the Poisson variance-stabilizing scale: an error ``d`` at intensity ``y`` weighs about
    ``d / (2 sqrt(y))``, so a haze on a dark background costs far more than the same error
    on a bright structure. ``floor`` bounds the gradient at 0."""
    return F.l1_loss((restored.clamp_min(0) + floor).sqrt(), (sharp.clamp_min(0) + floor).sqrt())


def deblur_loss(restored: torch.Tensor, sharp: torch.Tensor, root_weight: float = 0.0) -> torch.Tensor:
    """The light-sheet paper's restoration loss on ``(B, C, Z, Y, X)``:
    L1 + 0.2 (1 - SSIM) + 0.1 edge (L1 of finite differences) + 0.1 high-frequency, plus
    ``root_weight`` x :func:`root_l1`."""
    data_range = (sharp.amax() - sharp.amin()).clamp_min(1e-6)
    ssim = gaussian_ssim(restored, sharp, data_range, window=min(7, *sharp.shape[2:]) | 1)
    edge = sum(F.l1_loss(a, b) for a, b in zip(_gradients(restored), _gradients(sharp)))
    loss = (
        F.l1_loss(restored, sharp)
        + 0.2 * (1 - ssim)
        + 0.1 * edge
        + 0.1 * F.l1_loss(_high_pass(restored), _high_pass(sharp))
    )
    return loss + root_weight * root_l1(restored, sharp) if root_weight else loss


def classification_loss(logits: torch.Tensor, classes: torch.Tensor, weights: torch.Tensor | None = None):
    """Cross-entropy of ``(B, K)`` logits against ``(B,)`` class indices, optionally class-weighted."""
    return F.cross_entropy(logits, classes, weight=weights)
