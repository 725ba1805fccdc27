"""Look inside a Bright-4B model over a whole volume: routing, expert usage, path gates, PCA maps.

The volume is normalized and resampled to the model's voxel size as for prediction, then
run through the encoder with capture on (:mod:`.capture`), tile by tile in the engine's
tile loop (:func:`~..inference.engine.run_tiles`). Each token's values
land in one place on the volume's token lattice (:mod:`.token_tiles`), which
:class:`~.token_grid.TokenGrid` places in the world. Per transformer layer and token:

- routing entropy: the entropy of the token's combine weights over the Soft-MoE slots,
  over ``log(slots)``, in [0, 1] (0: one slot takes it all; 1: all slots equally), the
  mean over the hyper-connection streams (the quantity the balancing loss raises);
- expert usage: each expert's share of the token's combine weight (its slots summed),
  mean over streams; the dominant expert is the largest share;
- gates: the NSA gate of the compression, selection and window paths, mean over heads and
  streams (dense-attention models have no paths, hence no gates);

and for chosen layers, the token states projected on three principal components as RGB.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import BadInputError
from ..inference.engine import CancelToken, Progress, run_tiles
from ..inference.normalize import Normalizer, percentile_range
from ..inference.predict import model_grid_source, model_tile
from ..models.bright4b import Bright4B
from ..models.card import ModelCard
from ..models.session import ModelSession
from ..nn.sparse_attention import NativeSparseAttention3D
from .capture import TokenMaps, capture_tile
from .pca import pca_rgb
from .token_grid import TokenGrid
from .token_tiles import token_tiles

PATHS = NativeSparseAttention3D.PATHS


@dataclass
class Inspection:
    """One volume seen from inside ``model``, on the token lattice ``grid`` (shape ``T``):
    ``entropy (L, *T)`` in [0, 1]; ``usage (L, X, *T)`` expert shares (sum 1 over X);
    ``gates (L, 3, *T)`` or ``None``; ``pca`` RGB maps ``(*T, 3)`` uint8 by 1-based layer."""

    model: str
    grid: TokenGrid
    entropy: np.ndarray
    usage: np.ndarray
    gates: np.ndarray | None
    pca: dict[int, np.ndarray]
    tiles: int
    seconds: float
    device: str

    @property
    def layers(self) -> int:
        return self.entropy.shape[0]

    @property
    def experts(self) -> int:
        return self.usage.shape[1]

    @property
    def dominant_expert(self) -> np.ndarray:
        """``(L, *T)`` the 0-based expert with the largest share of each token."""
        return self.usage.argmax(1).astype(np.uint8 if self.experts <= 256 else np.uint16)

    @property
    def expert_usage(self) -> np.ndarray:
        """``(L, X)``: each expert's share of the combine weight over all tokens; rows sum to 1."""
        return self.usage.reshape(self.layers, self.experts, -1).mean(-1, dtype=np.float64)

    @property
    def usage_by_depth(self) -> np.ndarray:
        """``(L, tz, X)``: each expert's share of the combine weight over the tokens of each
        token z-plane (top first); rows sum to 1."""
        planes = self.usage.reshape(self.layers, self.experts, self.grid.shape[0], -1)
        return planes.mean(-1, dtype=np.float64).transpose(0, 2, 1)

    @property
    def mean_entropy(self) -> np.ndarray:
        """``(L,)`` routing entropy averaged over tokens."""
        return self.entropy.reshape(self.layers, -1).mean(-1, dtype=np.float64)

    def entropy_percentiles(self, low: float = 10, high: float = 90) -> np.ndarray:
        """``(L, 2)``: the ``low`` and ``high`` percentiles of the routing entropy over tokens."""
        return np.percentile(self.entropy.reshape(self.layers, -1), (low, high), axis=-1).T

    def summary(self) -> dict:
        """The numbers, JSON-ready: layers, experts, mean entropy per layer, expert usage
        (layers x experts), mean gates per layer and path, PCA layers, the token grid."""
        scale, translate = self.grid.placement()
        gates = None
        if self.gates is not None:
            means = self.gates.reshape(self.layers, 3, -1).mean(-1, dtype=np.float64)
            gates = {path: _rounded(means[:, p]) for p, path in enumerate(PATHS)}
        return {
            "layers": self.layers,
            "experts": self.experts,
            "mean_entropy_per_layer": _rounded(self.mean_entropy),
            "expert_usage": [_rounded(row) for row in self.expert_usage],
            "mean_gates_per_layer": gates,
            "pca_layers": sorted(self.pca),
            "token_grid": {
                "shape": list(self.grid.shape),
                "voxel_size_um": _rounded(scale),
                "translate_um": _rounded(translate),
                "model_shape": list(self.grid.model_shape),
                "model_voxel_size_um": _rounded(self.grid.model_voxel_size),
            },
            "tiles": self.tiles,
        }


def _rounded(values) -> list[float]:
    return [round(float(v), 6) for v in values]


def check_layers(layers: Sequence[int], depth: int) -> tuple[int, ...]:
    """1-based transformer ``layers``, sorted and unique; refuses any outside ``1..depth``."""
    for layer in layers:
        if not 1 <= int(layer) <= depth:
            raise BadInputError(f"layer {layer} is out of range: the model has {depth} transformer layers (1..{depth})")
    return tuple(sorted({int(layer) for layer in layers}))


def inspect_volume(
    model: Bright4B,
    card: ModelCard,
    volume,
    voxel_size: Sequence[float] | None = None,
    *,
    pca_layers: Sequence[int] | None = None,
    tile: Sequence[int] | None = None,
    overlap: float = 0.25,
    seed: int = 0,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> Inspection:
    """Inspect ``model`` on ``volume (C, Z, Y, X)`` (NumPy or zarr; never modified) at
    ``voxel_size`` (z, y, x, um; default the card's).

    ``pca_layers``: 1-based layers to project (default: the decoder's taps, L/4 ... L);
    ``tile`` (default the card's, rounded up to the padding multiple) and ``overlap`` as for
    prediction; ``seed`` draws the PCA sample. The tiles run through the engine's loop
    (:func:`~..inference.engine.run_tiles`): ``progress(done, total)`` is called after each
    tile and ``cancel`` checked before each one (raising :class:`Cancelled`).
    """
    _check_input(model, card, volume)
    config = model.config
    pca_layers = check_layers(config.taps if pca_layers is None else pca_layers, config.depth)
    grid = TokenGrid.for_volume(tuple(volume.shape[1:]), voxel_size or card.voxel_size, card)
    norm = card.normalization
    normalizer = Normalizer(*percentile_range(volume, norm["low"], norm["high"]))
    source, prepare = model_grid_source(volume, grid.model_shape, normalizer)
    parts = token_tiles(grid.model_shape, config.patch, config.brick, model_tile(card, tile), overlap)
    maps = TokenMaps.zeros(config, grid.shape, pca_layers)
    weight = next(model.parameters())
    started = time.perf_counter()
    run_tiles(
        lambda batch: [capture_tile(model, batch[0], pca_layers)],
        source,
        [part.voxels for part in parts],
        lambda index, tile_maps: maps.paste(tile_maps, parts[index].keep, parts[index].place),
        prepare=prepare,
        batch_size=1,  # one tile per capture; tiles at the far edges are smaller
        device=weight.device,
        dtype=weight.dtype,
        progress=progress,
        cancel=cancel,
    )
    pca = {layer: pca_rgb(maps.features.pop(layer), seed) for layer in pca_layers}
    seconds = time.perf_counter() - started
    return Inspection(
        card.name, grid, maps.entropy, maps.usage, maps.gates, pca, len(parts), seconds, str(weight.device)
    )


def _check_input(model, card: ModelCard, volume) -> None:
    """Refuse a model that is not Bright-4B, and a volume that is not a 3D ``(C, Z, Y, X)``
    image with the model's channels."""
    if not isinstance(model, Bright4B):
        raise BadInputError(f"inspection needs a Bright-4B model, got a {type(model).__name__}")
    channels = model.config.in_channels
    if len(volume.shape) != 4 or volume.shape[0] != channels:
        raise BadInputError(
            f"expected an image ({channels}, Z, Y, X) for model {card.name!r}, got shape {volume.shape}"
        )
    if volume.shape[1] < 2:
        shape = tuple(volume.shape[1:])
        raise BadInputError(f"the image is 2D (one z-slice, shape {shape}); inspection needs a 3D stack (Z, Y, X)")


def inspect_job(
    spec: str,
    volume,
    voxel_size: Sequence[float],
    *,
    device: str = "auto",
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
    **options,
) -> Inspection:
    """Load model ``spec`` (registry name or path) on ``device``, inspect ``volume`` with it
    (``options`` as for :func:`inspect_volume`), and release the model, also on failure."""
    with ModelSession(spec, device) as session:
        return inspect_volume(
            session.model, session.card, volume, voxel_size, progress=progress, cancel=cancel, **options
        )
