"""Native Sparse Attention on a 3D token lattice (Bright-4B section 3.3, D.1).

Tokens arrive in block-major order (see :mod:`.token_lattice`): block ``b`` is the
contiguous run ``[b * bs, (b + 1) * bs)`` and is a 3D brick of the lattice. Every
query mixes three paths with a per-head sigmoid gate computed from the query:

- compression: each key/value block is mapped by an MLP ``phi`` to one key/value;
  queries attend to all compressed blocks (coarse global context);
- selection: the compressed attention probabilities, averaged over a query block and
  over the query heads of a GQA group, pick the top ``kappa`` key blocks, which are
  attended at token resolution. A straight-through factor (1 in the forward pass)
  carries gradients back into the block scores;
- window: the blocks within ``window_radius`` bricks of the query's block.

Attention is non-causal, grouped-query (``kv_heads`` divides ``heads``), with
L2-normalized queries and keys carrying a learned scale (nGPT) and softmax scale
``sqrt(head_dim)``. ``mode="dense"`` computes plain dense attention instead, the
reference and benchmark baseline.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .hypersphere import LearnedScale, l2norm, mark_unit_norm
from .token_lattice import BlockLattice

# Query blocks are processed in chunks so that gathered keys stay near this many elements.
_CHUNK_ELEMENTS = 1 << 23


def grouped_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Attention where the ``G`` query heads of a group share one key/value head.

    ``q``: ``(..., G, Lq, dh)``; ``k``, ``v``: ``(..., Lk, dh)``; ``mask``: boolean,
    broadcastable to ``(..., G * Lq, Lk)``, True = may attend. Returns ``(..., G, Lq, dh)``.
    The group is folded into the query axis, so keys are never copied per head.
    """
    *lead, groups, lq, dh = q.shape
    out = F.scaled_dot_product_attention(q.reshape(*lead, groups * lq, dh), k, v, attn_mask=mask, scale=scale)
    return out.reshape(*lead, groups, lq, dh)


class BlockCompressor(nn.Module):
    """``phi``: an MLP mapping a block ``(..., bs, dh)`` to one vector ``(..., dh)``."""

    def __init__(self, block_size: int, head_dim: int, hidden: int):
        super().__init__()
        self.position = nn.Parameter(torch.zeros(block_size, head_dim))
        self.mlp = nn.Sequential(nn.Linear(block_size * head_dim, hidden), nn.GELU(), nn.Linear(hidden, head_dim))

    def forward(self, blocks: torch.Tensor) -> torch.Tensor:
        blocks = blocks + self.position.to(blocks.dtype)
        return self.mlp(blocks.flatten(-2))


class NativeSparseAttention3D(nn.Module):
    """NSA-3D over ``(B, N, dim)`` block-major tokens; returns ``(B, N, dim)``.

    ``gate_bias`` initialises the (compression, selection, window) gate logits.
    """

    PATHS = ("compression", "selection", "window")

    def __init__(
        self,
        dim: int,
        heads: int,
        kv_heads: int,
        head_dim: int,
        block_size: int,
        kappa: int,
        window_radius: tuple[int, int, int],
        compress_hidden: int,
        gate_bias: tuple[float, float, float] = (-1.0, -1.0, 2.0),
        mode: str = "nsa",
    ):
        super().__init__()
        if heads % kv_heads:
            raise ValueError(f"heads ({heads}) must be a multiple of kv_heads ({kv_heads})")
        if mode not in ("nsa", "dense"):
            raise ValueError(f"attention mode must be 'nsa' or 'dense', got {mode!r}")
        self.heads, self.kv_heads, self.head_dim = heads, kv_heads, head_dim
        self.kappa, self.window_radius, self.mode = kappa, tuple(window_radius), mode
        self.q_proj = nn.Linear(dim, heads * head_dim, bias=False)
        self.k_proj = nn.Linear(dim, kv_heads * head_dim, bias=False)
        self.v_proj = nn.Linear(dim, kv_heads * head_dim, bias=False)
        self.o_proj = nn.Linear(heads * head_dim, dim, bias=False)
        for proj in (self.q_proj, self.k_proj, self.v_proj):
            mark_unit_norm(proj, "weight", dim=1)
        mark_unit_norm(self.o_proj, "weight", dim=0)
        self.qk_scale = LearnedScale(head_dim)
        self.compress_k = BlockCompressor(block_size, head_dim, compress_hidden)
        self.compress_v = BlockCompressor(block_size, head_dim, compress_hidden)
        self.gate_weight = nn.Parameter(torch.randn(heads, head_dim, 3) / math.sqrt(head_dim))
        self.gate_bias = nn.Parameter(torch.tensor(gate_bias).repeat(heads, 1))
        self.capture = False
        self.last_gates: torch.Tensor | None = None

    @property
    def softmax_scale(self) -> float:
        return math.sqrt(self.head_dim)

    def project(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Normalized, scaled ``q (B, H, N, dh)``, ``k (B, Hkv, N, dh)`` and ``v (B, Hkv, N, dh)``."""
        b, n, _ = x.shape
        q = self.q_proj(x).view(b, n, self.heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(b, n, self.kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(b, n, self.kv_heads, self.head_dim).transpose(1, 2)
        return self.qk_scale(l2norm(q)), self.qk_scale(l2norm(k)), v

    def gates(self, q: torch.Tensor) -> torch.Tensor:
        """Per-head sigmoid gates ``(B, H, N, 3)`` from the unit query direction."""
        logits = torch.einsum("bhnd,hdp->bhnp", l2norm(q), self.gate_weight.to(q.dtype))
        return torch.sigmoid(logits + self.gate_bias.to(q.dtype)[None, :, None])

    def forward(self, x: torch.Tensor, lattice: BlockLattice) -> torch.Tensor:
        q, k, v = self.project(x)
        if self.mode == "dense":
            out = self.dense(q, k, v)
        else:
            out = self.sparse(q, k, v, lattice)
        b, _, n, _ = out.shape
        return self.o_proj(out.transpose(1, 2).reshape(b, n, self.heads * self.head_dim))

    def dense(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Dense attention ``(B, H, N, dh)``: every query sees every key."""
        b, _, n, dh = q.shape
        groups = self.heads // self.kv_heads
        out = grouped_attention(q.view(b, self.kv_heads, groups, n, dh), k, v, self.softmax_scale)
        return out.reshape(b, self.heads, n, dh)

    def sparse(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, lattice: BlockLattice) -> torch.Tensor:
        """The gated three-path NSA output ``(B, H, N, dh)``."""
        b, _, n, dh = q.shape
        hkv, groups = self.kv_heads, self.heads // self.kv_heads
        nb, bs = lattice.num_blocks, lattice.block_size
        gates = self.gates(q)
        if self.capture:
            self.last_gates = gates.detach()
        # (B, Hkv, nb, G * bs, dh): the queries of a block and of a GQA group, side by side.
        q_tiles = q.view(b, hkv, groups, nb, bs, dh).permute(0, 1, 3, 2, 4, 5).reshape(b, hkv, nb, groups * bs, dh)
        g_tiles = gates.view(b, hkv, groups, nb, bs, 3).permute(0, 1, 3, 2, 4, 5).reshape(b, hkv, nb, groups * bs, 3)
        k_blocks = k.view(b, hkv, nb, bs, dh)
        v_blocks = v.view(b, hkv, nb, bs, dh)
        k_cmp = self.qk_scale(l2norm(self.compress_k(k_blocks)))
        v_cmp = self.compress_v(v_blocks)
        window_index, window_valid = lattice.neighbours(self.window_radius)
        window_index, window_valid = window_index.to(q.device), window_valid.to(q.device)
        kappa = min(self.kappa, nb)
        keys_per_block = (kappa + window_index.shape[1]) * bs * dh * hkv * b
        chunk = max(1, _CHUNK_ELEMENTS // keys_per_block)
        outputs = []
        for start in range(0, nb, chunk):
            blocks = slice(start, min(start + chunk, nb))
            qc = q_tiles[:, :, blocks]
            o_cmp, scores = self.compressed(qc, k_cmp, v_cmp)
            o_sel = self.selected(qc, k_blocks, v_blocks, scores, kappa)
            o_win = self.windowed(qc, k_blocks, v_blocks, window_index[blocks], window_valid[blocks])
            g = g_tiles[:, :, blocks]
            outputs.append(g[..., 0:1] * o_cmp + g[..., 1:2] * o_sel + g[..., 2:3] * o_win)
        out = torch.cat(outputs, dim=2).view(b, hkv, nb, groups, bs, dh)
        return out.permute(0, 1, 3, 2, 4, 5).reshape(b, self.heads, n, dh)

    def compressed(
        self, q_tiles: torch.Tensor, k_cmp: torch.Tensor, v_cmp: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Attention over compressed blocks.

        ``q_tiles (B, Hkv, nq, Lq, dh)``, ``k_cmp``/``v_cmp (B, Hkv, nb, dh)``. Returns the
        output ``(B, Hkv, nq, Lq, dh)`` and block scores ``(B, Hkv, nq, nb)``: the
        attention probabilities averaged over each query tile (rows sum to 1).
        """
        logits = torch.einsum("bhqld,bhkd->bhqlk", q_tiles, k_cmp) * self.softmax_scale
        probs = logits.float().softmax(-1).to(q_tiles.dtype)
        out = torch.einsum("bhqlk,bhkd->bhqld", probs, v_cmp)
        return out, probs.mean(-2)

    def selected(
        self,
        q_tiles: torch.Tensor,
        k_blocks: torch.Tensor,
        v_blocks: torch.Tensor,
        scores: torch.Tensor,
        kappa: int,
    ) -> torch.Tensor:
        """Token-resolution attention over the top-``kappa`` blocks of each query tile.

        ``k_blocks``/``v_blocks (B, Hkv, nb, bs, dh)``; ``scores (B, Hkv, nq, nb)``.
        """
        top_scores, top = scores.topk(kappa, dim=-1)
        k_sel = gather_blocks(k_blocks, top)
        # Straight-through: the factor is 1 forward but passes gradients to the scores.
        straight_through = (1.0 + top_scores - top_scores.detach())[..., None, None]
        v_sel = gather_blocks(v_blocks, top) * straight_through
        return self.attend_blocks(q_tiles, k_sel, v_sel, None)

    def windowed(
        self,
        q_tiles: torch.Tensor,
        k_blocks: torch.Tensor,
        v_blocks: torch.Tensor,
        index: torch.Tensor,
        valid: torch.Tensor,
    ) -> torch.Tensor:
        """Attention over each query tile's neighbourhood of blocks (``index``/``valid (nq, W)``)."""
        b, hkv = k_blocks.shape[:2]
        expanded = index.expand(b, hkv, *index.shape)
        bs = k_blocks.shape[3]
        mask = None if bool(valid.all()) else valid.repeat_interleave(bs, dim=-1)[None, :, None, :]
        return self.attend_blocks(q_tiles, gather_blocks(k_blocks, expanded), gather_blocks(v_blocks, expanded), mask)

    def attend_blocks(
        self, q_tiles: torch.Tensor, k_sel: torch.Tensor, v_sel: torch.Tensor, mask: torch.Tensor | None
    ) -> torch.Tensor:
        """Each query tile ``(B, Hkv, nq, Lq, dh)`` attends its own blocks ``(B, Hkv, nq, m, bs, dh)``.

        ``mask``: boolean ``(1, nq, 1, m * bs)`` or None. Batch and heads are folded so
        that SDPA sees 4D tensors and can use its fused kernels.
        """
        b, hkv, nq, lq, dh = q_tiles.shape
        flat_k = k_sel.reshape(b * hkv, nq, -1, dh)
        flat_v = v_sel.reshape(b * hkv, nq, -1, dh)
        out = F.scaled_dot_product_attention(
            q_tiles.reshape(b * hkv, nq, lq, dh), flat_k, flat_v, attn_mask=mask, scale=self.softmax_scale
        )
        return out.view(b, hkv, nq, lq, dh)


def gather_blocks(blocks: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``blocks (B, Hkv, nb, bs, dh)``, ``index (B, Hkv, nq, m)`` -> ``(B, Hkv, nq, m, bs, dh)``."""
    b, hkv, nb, bs, dh = blocks.shape
    nq, m = index.shape[2:]
    flat = index.reshape(b, hkv, nq * m, 1, 1).expand(b, hkv, nq * m, bs, dh)
    return blocks.gather(2, flat).view(b, hkv, nq, m, bs, dh)
