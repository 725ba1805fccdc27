"""Test-time adaptation: before it learns the strokes, the network learns the user's image.

For a few seconds the base model's backbone and decoder are trained by masked
reconstruction (:mod:`..pretrain.masking`) on patches of the whole image, every voxel and
no label: a share of each patch's token-sized blocks is hidden and a temporary one-voxel
convolution on the decoder's features must fill them in. Only the network is changed, in
memory; the temporary head is dropped and the base file is never written.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ...inference.engine import CancelToken
from ...models.bright4b import Bright4B
from ...models.card import ModelCard
from ..patches import Example, PatchSampler
from ..pretrain.ema_teacher import reconstruction_objective
from ..pretrain.masking import MaskedPatches
from ..pretrain.run import MASK_RATIO
from ..trainer import TrainResult, TrainSettings, train


class Reconstructor(nn.Module):
    """``model``'s decoder features mapped back to its input channels by a new 1x1x1
    convolution: ``(B, C, Z, Y, X) -> (B, C, Z, Y, X)``."""

    def __init__(self, model: Bright4B):
        super().__init__()
        self.model = model
        weight = next(model.parameters())
        self.out = nn.Conv3d(model.config.decoder_features, model.config.in_channels, 1).to(weight.device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.model.features(x)[0])


def adapt_to_image(
    model: Bright4B,
    card: ModelCard,
    image: np.ndarray,
    settings: TrainSettings,
    rng: np.random.Generator,
    cancel: CancelToken | None = None,
    ema_teacher: bool = False,
) -> TrainResult:
    """Train ``model`` (for ``card``) in place by masked reconstruction of ``image (C, Z, Y, X)``
    (normalized, on the model's grid) in patches of its tile, as ``settings`` say (steps or a
    time budget), with the Soft-MoE balancing loss as in pretraining; every parameter but the
    head's (which the reconstruction does not use) trains. With ``ema_teacher`` the token
    states also follow an EMA teacher that starts as the base (:mod:`..pretrain.ema_teacher`),
    which holds the features near the base's. Returns the trainer's result."""
    for parameter in model.parameters():
        parameter.requires_grad_(True)
    unlabeled = np.zeros((1, *image.shape[1:]), np.uint8)  # the masked patches need no target
    sampler = PatchSampler([Example(image, unlabeled)], card.tile, rng, foreground_share=0.0)
    batches = MaskedPatches(sampler, model.config.patch, MASK_RATIO)
    with reconstruction_objective(model, ema_teacher) as reconstruction:

        def loss(output: torch.Tensor, image: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            return reconstruction(output, image, target) + model.balance_loss()

        result = train(Reconstructor(model), card, batches, settings, None, cancel=cancel, loss=loss)
    model.eval()
    return result


def adaptation_record(result: TrainResult, ema_teacher: bool = False) -> dict:
    """What a card records of an adaptation: its objectives, steps, seconds and first and last losses."""
    losses = [loss for _, loss in result.losses]
    return {
        "objectives": ["masked_reconstruction", "ema_teacher"] if ema_teacher else ["masked_reconstruction"],
        "steps": result.steps,
        "seconds": round(result.seconds, 2),
        "loss_first": losses[0] if losses else None,
        "loss_last": losses[-1] if losses else None,
    }
