"""A Bright-4B model's own per-voxel features: its head's outputs (class probabilities of a
segmentation model), its decoder's full-resolution features and its tokens' principal
components, computed tile by tile through the engine.

Tokens of the chosen layers are projected on their first principal components, fitted once
per image on random crops (so one feature means one direction everywhere in the volume),
and trilinearly upsampled from the token lattice to voxels within each tile.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..inference.crops import random_crops
from ..inference.engine import CancelToken, Progress
from ..inference.normalize import Normalizer, percentile_normalize
from ..inference.predict import on_model_grid
from ..inference.resample import resize, target_shape
from ..inference.views import average_views
from ..models.bright4b import Bright4B
from ..models.card import ModelCard
from ..models.heads import activate
from ..nn.padding import crop_to, pad_to_multiple
from .token_pca import TokenPCA

TOKEN_COMPONENTS = 6
PCA_CROPS = 4
IDENTITY = Normalizer(0.0, 1.0)


def head_outputs(card: ModelCard) -> tuple[str, ...]:
    """The names of the head's per-voxel outputs used as features: a segmentation model's
    class probabilities, a deblurring model's sharp image; none for a classifier."""
    if card.head.task == "segment":
        return tuple(f"p({name})" for name in card.head.class_names)
    return ("deblurred",) * card.head.channels if card.head.task == "deblur" else ()


def model_feature_names(
    model: Bright4B, card: ModelCard, layers: Sequence[int], components: int = TOKEN_COMPONENTS
) -> tuple:
    """Feature names: the head's outputs (:func:`head_outputs`), the decoder's features, then
    ``components`` principal components of the tokens of each layer in ``layers``."""
    decoder = [f"decoder {i}" for i in range(model.config.decoder_features)]
    tokens = [f"layer {layer} pc {k + 1}" for layer in layers for k in range(components)]
    return (*head_outputs(card), *decoder, *tokens)


@torch.no_grad()
def fit_token_pcas(
    model: Bright4B, card: ModelCard, image: np.ndarray, layers: Sequence[int], components: int, seed: int = 0
) -> list[TokenPCA]:
    """One :class:`TokenPCA` of ``components`` per layer in ``layers`` (0-based), fitted on the
    tokens of random crops of ``image (C, Z, Y, X)`` (model grid, normalized)."""
    crops = random_crops(image, card.tile, np.random.default_rng(seed), PCA_CROPS)
    weight = next(model.parameters())
    padded = pad_to_multiple(crops.to(device=weight.device, dtype=weight.dtype), model.config.spatial_multiple)
    encoded = model.encode(padded)
    return [TokenPCA.fit(encoded.layers[i].flatten(0, 1).float().cpu().numpy(), components) for i in layers]


def _feature_predict(model: Bright4B, card: ModelCard, pcas: Sequence[TokenPCA], layers: Sequence[int]):
    projections = [(torch.from_numpy(p.mean).float(), torch.from_numpy(p.components).float().T) for p in pcas]

    def predict(batch: torch.Tensor) -> torch.Tensor:
        features, encoded = model.features(batch)
        maps = [features.float()]
        if head_outputs(card):
            maps.insert(0, activate(card.head, model.head(features, batch, encoded.layers[-1])).float())
        padded = [-(-n // m) * m for n, m in zip(batch.shape[2:], model.config.spatial_multiple)]
        for layer, (mean, basis) in zip(layers, projections):
            tokens = encoded.token_map(layer).float()  # (B, dim, D', H', W')
            coords = torch.einsum(
                "bdzyx,dk->bkzyx", tokens - mean.to(tokens.device).view(1, -1, 1, 1, 1), basis.to(tokens.device)
            )
            maps.append(
                crop_to(F.interpolate(coords, size=padded, mode="trilinear", align_corners=False), batch.shape[2:])
            )
        return torch.cat(maps, 1)

    return predict


def model_features(
    model: Bright4B,
    card: ModelCard,
    image: np.ndarray,
    voxel_size: Sequence[float],
    layers: Sequence[int] = (-1,),
    components: int = TOKEN_COMPONENTS,
    views: int | None = None,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> np.ndarray:
    """Features ``(F, Z, Y, X)`` float32 of ``image (C, Z, Y, X)`` (voxel size ``voxel_size``,
    z, y, x um) on its own grid, in :func:`model_feature_names` order, averaged over ``views``
    symmetric views of each tile (:mod:`~..inference.views`; ``None``: the card's, so that
    the class probabilities are the ones the model as it ships gives)."""
    layers = [layer % model.config.depth for layer in layers]
    grid = target_shape(image.shape[1:], voxel_size, card.voxel_size)
    normalized = resize(percentile_normalize(image, **card.normalization), grid)
    pcas = fit_token_pcas(model, card, normalized, layers, components)
    channels = len(model_feature_names(model, card, layers, components))
    with torch.no_grad():
        features = on_model_grid(
            average_views(_feature_predict(model, card, pcas, layers), card.views if views is None else views),
            channels,
            model,
            card,
            normalized,
            card.voxel_size,
            IDENTITY,
            overlap=0.25,
            progress=progress,
            cancel=cancel,
        )
    return resize(features, image.shape[1:])
