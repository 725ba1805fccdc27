"""Capture what a Bright-4B model does inside, for one tile: routing, path gates, token features.

Capture registers forward hooks on the Soft-MoE and NSA modules for the passes inside
:func:`capturing`. A hook reads the module's input and recomputes, with the module's own
methods, the combine weights (:meth:`~..nn.soft_moe.HypersphericalSoftMoE.routing`) and the
path gates (:meth:`~..nn.sparse_attention.NativeSparseAttention3D.gates`) that the pass
used: the same numbers, and no computation of the pass changes. The modules keep no
capture state; when capture ends the hooks are removed.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch

from ..models.bright4b import Bright4B
from ..models.config import Bright4BConfig
from ..nn.padding import pad_to_multiple
from ..nn.token_lattice import BlockLattice
from .routing import gate_maps, routing_maps


@dataclass
class Captured:
    """Per transformer block (0-based), from the latest pass: the Soft-MoE combine weights
    ``(B * E, m, slots)`` and the NSA gates ``(B * E, m, heads, 3)`` (``None`` for dense
    attention); tokens block-major, streams folded into the batch."""

    combine: list[torch.Tensor | None]
    gates: list[torch.Tensor | None]


def _keep_combine(captured: Captured, index: int, moe, args: tuple, kwargs: dict, output) -> None:
    with torch.no_grad():
        captured.combine[index] = moe.routing(args[0], kwargs.get("context"))[1]


def _keep_gates(captured: Captured, index: int, attention, args: tuple, output) -> None:
    with torch.no_grad():
        captured.gates[index] = attention.gates(attention.query(args[0]))


@contextmanager
def capturing(model: Bright4B) -> Iterator[Captured]:
    """Inside the block every pass of ``model`` records its routing and gates in the
    :class:`Captured` it yields; afterwards the hooks are gone."""
    depth = len(model.blocks)
    captured = Captured([None] * depth, [None] * depth)
    handles = []
    for index, block in enumerate(model.blocks):
        handles.append(block.moe.register_forward_hook(partial(_keep_combine, captured, index), with_kwargs=True))
        if block.attention.mode == "nsa":
            handles.append(block.attention.register_forward_hook(partial(_keep_gates, captured, index)))
    try:
        yield captured
    finally:
        for handle in handles:
            handle.remove()


@dataclass
class TokenMaps:
    """Per-token maps on a token lattice ``(tz, ty, tx)`` (a tile's or a volume's; raster order):
    ``entropy (L, tz, ty, tx)`` routing entropy in [0, 1]; ``usage (L, X, tz, ty, tx)`` each
    expert's share of the combine weight; ``gates (L, 3, tz, ty, tx)`` the compression,
    selection and window gates (``None`` for dense attention, which has no paths);
    ``features`` token states ``(dim, tz, ty, tx)`` by 1-based layer. All float32."""

    entropy: np.ndarray
    usage: np.ndarray
    gates: np.ndarray | None
    features: dict[int, np.ndarray]

    @classmethod
    def zeros(cls, config: Bright4BConfig, tokens: Sequence[int], feature_layers: Sequence[int]) -> TokenMaps:
        """Maps of zeros on a lattice of ``tokens (tz, ty, tx)`` for a model of ``config``."""
        depth = config.depth
        return cls(
            entropy=np.zeros((depth, *tokens), np.float32),
            usage=np.zeros((depth, config.num_experts, *tokens), np.float32),
            gates=None if config.attention == "dense" else np.zeros((depth, 3, *tokens), np.float32),
            features={layer: np.zeros((config.dim, *tokens), np.float32) for layer in feature_layers},
        )

    def paste(self, maps: TokenMaps, keep: Sequence[slice], place: Sequence[slice]) -> None:
        """Copy the tokens ``keep`` (one slice per axis) of ``maps`` to ``place`` of these."""
        keep, place = (Ellipsis, *keep), (Ellipsis, *place)
        self.entropy[place] = maps.entropy[keep]
        self.usage[place] = maps.usage[keep]
        if self.gates is not None:
            self.gates[place] = maps.gates[keep]
        for layer, values in self.features.items():
            values[place] = maps.features[layer][keep]


def token_shape(shape: Sequence[int], patch: Sequence[int]) -> tuple[int, int, int]:
    """Tokens ``(tz, ty, tx)`` that cover ``shape`` voxels: the last one may overhang."""
    return tuple(math.ceil(s / p) for s, p in zip(shape, patch))


def _on_grid(lattice: BlockLattice, raster: torch.Tensor, tokens: Sequence[int]) -> np.ndarray:
    """``(1, N, k)`` values in raster order -> ``(k, tz, ty, tx)``, cropped to the real ``tokens``."""
    grid = raster[0].T.reshape(-1, *lattice.shape)
    tz, ty, tx = tokens
    return grid[:, :tz, :ty, :tx].float().cpu().numpy()


def capture_tile(model: Bright4B, tile: torch.Tensor, feature_layers: Sequence[int] = ()) -> TokenMaps:
    """Run the encoder of ``model`` on one ``tile (C, z, y, x)`` (normalized, on the model's
    device and dtype) and return its per-token maps; ``feature_layers`` (1-based) also keep
    those layers' token states. The tile is mirror-padded as the model pads it, and the
    maps are cropped back to the tokens that cover the tile."""
    model.check_input(tile[None])
    config = model.config
    tokens = token_shape(tile.shape[1:], config.patch)
    with torch.no_grad(), capturing(model) as captured:
        encoded = model.encode(pad_to_multiple(tile[None], config.spatial_multiple))
    lattice = encoded.lattice
    entropy, usage, gates = [], [], []
    for combine, block_gates in zip(captured.combine, captured.gates):  # block-major, like the streams
        token_entropy, weights = routing_maps(combine, config.num_experts, config.streams)
        entropy.append(_on_grid(lattice, lattice.to_raster(token_entropy[..., None]), tokens)[0])
        usage.append(_on_grid(lattice, lattice.to_raster(weights), tokens))
        if block_gates is not None:
            gates.append(_on_grid(lattice, lattice.to_raster(gate_maps(block_gates, config.streams)), tokens))
    features = {layer: _on_grid(lattice, encoded.layers[layer - 1], tokens) for layer in feature_layers}
    return TokenMaps(
        entropy=np.stack(entropy),
        usage=np.stack(usage),
        gates=np.stack(gates) if gates else None,
        features=features,
    )
