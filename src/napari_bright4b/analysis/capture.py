"""Capture what a Bright-4B model does inside, for one tile: routing, path gates, token features.

Capture switches on the Soft-MoE and NSA modules' ``capture`` flags for one forward pass of
the encoder and reads their ``last_routing`` and ``last_gates``; it changes no computation,
and when it ends the flags are off again and nothing captured is kept by the model.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

from ..models.bright4b import Bright4B
from ..nn.padding import pad_to_multiple
from ..nn.token_lattice import BlockLattice
from .routing import gate_maps, routing_maps


@contextmanager
def capturing(model: Bright4B) -> Iterator[None]:
    """Inside the block every Soft-MoE and NSA module keeps its routing and gates of the
    latest pass; afterwards capture is off and the captured tensors are dropped."""
    modules = [module for block in model.blocks for module in (block.moe, block.attention)]
    for module in modules:
        module.capture = True
    try:
        yield
    finally:
        for block in model.blocks:
            block.moe.capture, block.moe.last_routing = False, None
            block.attention.capture, block.attention.last_gates = False, None


@dataclass
class TileMaps:
    """Per-token maps of one tile on its token lattice ``(tz, ty, tx)`` (raster order):
    ``entropy (L, tz, ty, tx)`` routing entropy in [0, 1]; ``usage (L, X, tz, ty, tx)`` each
    expert's share of the combine weight; ``gates (L, 3, tz, ty, tx)`` the compression,
    selection and window gates (``None`` for dense attention, which has no paths);
    ``features`` token states ``(dim, tz, ty, tx)`` by 1-based layer. All float32."""

    entropy: np.ndarray
    usage: np.ndarray
    gates: np.ndarray | None
    features: dict[int, np.ndarray]


def token_shape(shape: Sequence[int], patch: Sequence[int]) -> tuple[int, int, int]:
    """Tokens ``(tz, ty, tx)`` that cover ``shape`` voxels: the last one may overhang."""
    return tuple(math.ceil(s / p) for s, p in zip(shape, patch))


def _on_grid(lattice: BlockLattice, raster: torch.Tensor, tokens: Sequence[int]) -> np.ndarray:
    """``(1, N, k)`` values in raster order -> ``(k, tz, ty, tx)``, cropped to the real ``tokens``."""
    grid = raster[0].T.reshape(-1, *lattice.shape)
    tz, ty, tx = tokens
    return grid[:, :tz, :ty, :tx].float().cpu().numpy()


def capture_tile(model: Bright4B, tile: torch.Tensor, feature_layers: Sequence[int] = ()) -> TileMaps:
    """Run the encoder of ``model`` on one ``tile (C, z, y, x)`` (normalized, on the model's
    device and dtype) and return its per-token maps; ``feature_layers`` (1-based) also keep
    those layers' token states. The tile is mirror-padded as the model pads it, and the
    maps are cropped back to the tokens that cover the tile."""
    model.check_input(tile[None])
    config = model.config
    tokens = token_shape(tile.shape[1:], config.patch)
    with torch.no_grad(), capturing(model):
        encoded = model.encode(pad_to_multiple(tile[None], config.spatial_multiple))
        lattice = encoded.lattice
        entropy, usage, gates = [], [], []
        for block in model.blocks:  # routing and gates are block-major, like the streams
            routing = block.moe.last_routing
            token_entropy, weights = routing_maps(routing.combine, routing.num_experts, config.streams)
            entropy.append(_on_grid(lattice, lattice.to_raster(token_entropy[..., None]), tokens)[0])
            usage.append(_on_grid(lattice, lattice.to_raster(weights), tokens))
            if block.attention.last_gates is not None:
                paths = gate_maps(block.attention.last_gates, config.streams)
                gates.append(_on_grid(lattice, lattice.to_raster(paths), tokens))
        features = {layer: _on_grid(lattice, encoded.layers[layer - 1], tokens) for layer in feature_layers}
    return TileMaps(
        entropy=np.stack(entropy),
        usage=np.stack(usage),
        gates=np.stack(gates) if gates else None,
        features=features,
    )
