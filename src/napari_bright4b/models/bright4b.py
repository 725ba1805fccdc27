"""The Bright-4B backbone: anisotropic patch embed -> L x [DHC(NSA-3D), DHC(Soft MoE)] -> UNETR.

Every hidden state lives on the unit hypersphere. Inputs of any shape are mirror-padded
to a multiple of ``patch * brick`` and outputs are cropped back to the input shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import BadInputError
from ..nn.cpu_convolution import use_onednn_convolutions
from ..nn.decoder import UnetrDecoder
from ..nn.hyper_connections import DynamicHyperConnection
from ..nn.hypersphere import l2norm
from ..nn.padding import crop_to, pad_to_multiple
from ..nn.patch_embed import AnisotropicPatchEmbed
from ..nn.soft_moe import HypersphericalSoftMoE
from ..nn.sparse_attention import NativeSparseAttention3D
from ..nn.token_lattice import BlockLattice
from .config import Bright4BConfig, HeadConfig
from .heads import build_head


def stem_under_tokens(level: torch.Tensor, lattice_shape: tuple[int, int, int]) -> torch.Tensor:
    """A stem level ``(B, c, D'', H'', W'')`` averaged over each token's extent ->
    ``(B, N, c)``, raster order on the token lattice ``(D', H', W')``."""
    kernel = tuple(n // t for n, t in zip(level.shape[-3:], lattice_shape))
    return F.avg_pool3d(level, kernel).flatten(2).transpose(1, 2)


class Bright4BBlock(nn.Module):
    """One layer: NSA-3D then Soft MoE, each wrapped in a Dynamic Hyper-Connection."""

    def __init__(self, config: Bright4BConfig):
        super().__init__()
        c = config
        self.attention = NativeSparseAttention3D(
            c.dim,
            c.heads,
            c.kv_heads,
            c.head_dim,
            c.block_size,
            c.kappa,
            c.window_radius,
            c.compress_hidden,
            mode=c.attention,
        )
        self.moe = HypersphericalSoftMoE(
            c.dim,
            c.num_experts,
            c.slots_per_expert,
            c.expert_hidden,
            balance_weight=c.balance_weight,
            confidence_weight=c.routing_confidence,
            centred=c.centred_routing,
            streams=c.streams,
            context_width=c.context_width,
        )
        self.attention_connection = DynamicHyperConnection(c.dim, c.streams, step_init=c.step_init)
        self.moe_connection = DynamicHyperConnection(c.dim, c.streams, step_init=c.step_init)

    def forward(
        self, streams: torch.Tensor, lattice: BlockLattice, context: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``streams (B, E, N, dim)`` unit-norm, block-major (and the router's ``context (B, N,
        c)``, block-major, with ``router_context``) -> same shape."""
        streams = self.attention_connection(streams, partial(self.attention, lattice=lattice))
        return self.moe_connection(streams, partial(self.moe, context=context))


@dataclass
class EncoderOutput:
    """Unit-norm token states after each layer, ``(B, N, dim)`` in raster order."""

    lattice: BlockLattice
    layers: list[torch.Tensor]

    def token_map(self, index: int) -> torch.Tensor:
        """Layer ``index`` (0-based) as ``(B, dim, D', H', W')``."""
        tokens = self.layers[index]
        b, _, d = tokens.shape
        return tokens.transpose(1, 2).reshape(b, d, *self.lattice.shape)


class Bright4B(nn.Module):
    """``(B, C, D, H, W)`` of any spatial shape -> the head's raw output: ``(B, K, D, H, W)``
    logits (segment), ``(B, C, D, H, W)`` intensities (deblur) or ``(B, K)`` logits (classify)."""

    def __init__(self, config: Bright4BConfig, head: HeadConfig):
        super().__init__()
        self.config, self.head_config = config, head
        self.embed = AnisotropicPatchEmbed(config.in_channels, config.dim, config.patch)
        # Identical streams would stay identical (mixing them only rescales, which the
        # normalization undoes), so each stream starts from the tokens plus its own offset.
        self.stream_offsets = nn.Parameter(torch.randn(config.streams, config.dim) * 0.1 / config.dim**0.5)
        self.blocks = nn.ModuleList(Bright4BBlock(config) for _ in range(config.depth))
        self.decoder = UnetrDecoder(
            config.in_channels, config.dim, config.decoder_features, config.patch, config.decoder_stem
        )
        self.head = build_head(config, head)
        use_onednn_convolutions(self)

    def check_input(self, x: torch.Tensor) -> None:
        channels = self.config.in_channels
        if x.ndim != 5 or x.shape[1] != channels or 0 in x.shape:
            raise BadInputError(f"expected a non-empty input (B, {channels}, D, H, W), got shape {tuple(x.shape)}")
        weight = self.embed.proj.weight
        if x.dtype != weight.dtype or x.device != weight.device:
            raise BadInputError(
                f"input is {x.dtype} on {x.device} but the model is {weight.dtype} on {weight.device}; "
                "convert the input with .to(dtype=..., device=...)"
            )

    def encode(self, padded: torch.Tensor, stem: list[torch.Tensor] | None = None) -> EncoderOutput:
        """Token states of every layer for an input already padded to ``spatial_multiple``;
        with ``router_context`` the routers read the decoder's ``stem`` of it (computed here
        if not given)."""
        tokens = self.embed(padded)
        b, *lattice_shape, d = tokens.shape
        lattice = BlockLattice(tuple(lattice_shape), self.config.brick)
        raster = tokens.reshape(b, -1, d)
        streams = l2norm(lattice.to_blocks(raster)[:, None] + self.stream_offsets[None, :, None].to(tokens.dtype))
        context = None
        if self.config.router_context:
            coarsest = (self.decoder.stem(padded) if stem is None else stem)[-1]
            context = lattice.to_blocks(stem_under_tokens(coarsest, lattice.shape))
        layers = []
        for block in self.blocks:
            streams = block(streams, lattice, context)
            layers.append(lattice.to_raster(l2norm(streams.mean(1))))
        return EncoderOutput(lattice, layers)

    def features(self, x: torch.Tensor) -> tuple[torch.Tensor, EncoderOutput]:
        """The decoder's features ``(B, f, D, H, W)`` cropped to the input, and the token
        states of every layer (on the padded input's lattice)."""
        self.check_input(x)
        padded = pad_to_multiple(x, self.config.spatial_multiple)
        stem = self.decoder.stem(padded) if self.config.router_context else None  # the routers read it
        encoded = self.encode(padded, stem)
        if stem is None:  # made after the encoder, so its full-resolution features are not held through it
            stem = self.decoder.stem(padded)
        taps = [encoded.token_map(i - 1) for i in self.config.taps]
        return crop_to(self.decoder(stem, taps), x.shape[-3:]), encoded

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features, encoded = self.features(x)
        return self.head(features, x, encoded.layers[-1])

    def balance_loss(self) -> torch.Tensor:
        """Sum of the Soft-MoE balancing losses of the last forward pass."""
        return sum(block.moe.balance_loss for block in self.blocks)
