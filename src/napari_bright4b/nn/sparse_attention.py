"""Native Sparse Attention on a 3D token lattice (Bright-4B section 3.3, D.1).

Tokens arrive in block-major order (see :mod:`.token_lattice`): block ``b`` is the
contiguous run ``[b * bs, (b + 1) * bs)`` and is a 3D brick of the lattice. Every
query mixes three paths with a per-head sigmoid gate computed from the query:

- compression: each key/value block is mapped by an MLP ``phi`` to one key/value;
  queries attend to all compressed blocks (coarse global context);
- selection: the compressed attention scores of each query tile (a block of queries
  and the query heads of a GQA group, scored by their mean query) pick the top
  ``kappa`` key blocks, which are attended at token resolution. A straight-through factor (1 in the forward pass)
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
_CHUNK_ELEMENTS = 1 << 20


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

    @property
    def softmax_scale(self) -> float:
        return math.sqrt(self.head_dim)

    def query(self, x: torch.Tensor) -> torch.Tensor:
        """Normalized, scaled queries ``(B, N, H, dh)`` of tokens ``x (B, N, dim)``."""
        b, n, _ = x.shape
        return self.qk_scale(l2norm(self.q_proj(x).view(b, n, self.heads, self.head_dim)))

    def project(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Normalized, scaled ``q (B, N, H, dh)``, ``k (B, N, Hkv, dh)`` and ``v (B, N, Hkv, dh)``."""
        b, n, _ = x.shape
        k = self.k_proj(x).view(b, n, self.kv_heads, self.head_dim)
        v = self.v_proj(x).view(b, n, self.kv_heads, self.head_dim)
        return self.query(x), self.qk_scale(l2norm(k)), v

    def gates(self, q: torch.Tensor) -> torch.Tensor:
        """Per-head sigmoid gates ``(B, N, H, 3)`` from the unit query direction."""
        logits = torch.einsum("bnhd,hdp->bnhp", l2norm(q), self.gate_weight.to(q.dtype))
        return torch.sigmoid(logits + self.gate_bias.to(q.dtype))

    def forward(self, x: torch.Tensor, lattice: BlockLattice) -> torch.Tensor:
        q, k, v = self.project(x)
        out = self.dense(q, k, v) if self.mode == "dense" else self.sparse(q, k, v, lattice)
        b, n = x.shape[:2]
        return self.o_proj(out.reshape(b, n, self.heads * self.head_dim))

    def dense(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Dense attention ``(B, N, H, dh)``: every query sees every key."""
        b, n, _, dh = q.shape
        groups = self.heads // self.kv_heads
        grouped = q.view(b, n, self.kv_heads, groups, dh).permute(0, 2, 3, 1, 4)
        out = grouped_attention(grouped, k.transpose(1, 2), v.transpose(1, 2), self.softmax_scale)
        return out.permute(0, 3, 1, 2, 4).reshape(b, n, self.heads, dh)

    def tiles(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, lattice: BlockLattice
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Block layouts with ``BH = B * Hkv`` leading: query tiles ``(BH, nb, G * bs, dh)``
        (the queries of a block and of a GQA group side by side) and key/value blocks
        ``(BH, nb, bs, dh)``, all contiguous."""
        b, _, _, dh = q.shape
        hkv, groups = self.kv_heads, self.heads // self.kv_heads
        nb, bs = lattice.num_blocks, lattice.block_size
        q_tiles = q.view(b, nb, bs, hkv, groups, dh).permute(0, 3, 1, 4, 2, 5).reshape(b * hkv, nb, groups * bs, dh)
        q_tiles = q_tiles.contiguous()
        k_blocks = k.view(b, nb, bs, hkv, dh).permute(0, 3, 1, 2, 4).reshape(b * hkv, nb, bs, dh).contiguous()
        v_blocks = v.view(b, nb, bs, hkv, dh).permute(0, 3, 1, 2, 4).reshape(b * hkv, nb, bs, dh).contiguous()
        return q_tiles, k_blocks, v_blocks

    def sparse(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, lattice: BlockLattice) -> torch.Tensor:
        """The gated three-path NSA output ``(B, N, H, dh)``."""
        b, n, _, dh = q.shape
        hkv, groups = self.kv_heads, self.heads // self.kv_heads
        nb, bs = lattice.num_blocks, lattice.block_size
        gates = self.gates(q)
        g_tiles = gates.view(b, nb, bs, hkv, groups, 3).permute(0, 3, 1, 4, 2, 5).reshape(b * hkv, nb, groups * bs, 3)
        q_tiles, k_blocks, v_blocks = self.tiles(q, k, v, lattice)
        k_cmp = self.qk_scale(l2norm(self.compress_k(k_blocks)))
        v_cmp = self.compress_v(v_blocks)
        window_index, window_mask = lattice.window(self.window_radius)
        window_index = window_index.to(q.device).expand(b * hkv, *window_index.shape)
        window_mask = None if window_mask is None else window_mask.to(device=q.device, dtype=q.dtype)
        kappa = min(self.kappa, nb)
        scores = self.block_scores(q_tiles, k_cmp)
        # Bound the per-chunk temporaries: gathered keys and values.
        per_block = 2 * (kappa + window_index.shape[-1]) * bs * dh * hkv * b
        chunk = max(1, _CHUNK_ELEMENTS // per_block)
        # Chunks are written straight into the (B, N, H, dh) result through a block view.
        out = q.new_empty(b, n, self.heads, dh)
        out_blocks = out.view(b, nb, bs, hkv, groups, dh).permute(0, 3, 1, 4, 2, 5)
        # Without autograd, gathered blocks land in buffers reused by every chunk.
        width = chunk * max(kappa, window_index.shape[-1]) * b * hkv * bs * dh
        buffers = [None] * 4 if torch.is_grad_enabled() else [k_blocks.new_empty(width) for _ in range(4)]
        for start in range(0, nb, chunk):
            blocks = slice(start, min(start + chunk, nb))
            qc = q_tiles[:, blocks]
            o_cmp = self.compressed(qc, k_cmp, v_cmp)
            o_sel = self.selected(qc, k_blocks, v_blocks, scores[:, blocks], kappa, buffers[:2])
            mask = None if window_mask is None else window_mask[None, blocks, None, :]
            o_win = self.attend(
                qc,
                gather_blocks(k_blocks, window_index[:, blocks], buffers[2]),
                gather_blocks(v_blocks, window_index[:, blocks], buffers[3]),
                mask,
            )
            g = g_tiles[:, blocks]
            mixed = g[..., 0:1] * o_cmp + g[..., 1:2] * o_sel + g[..., 2:3] * o_win
            out_blocks[:, :, blocks] = mixed.view(b, hkv, -1, groups, bs, dh)
        return out

    def compressed(self, q_tiles: torch.Tensor, k_cmp: torch.Tensor, v_cmp: torch.Tensor) -> torch.Tensor:
        """Attention of query tiles ``(BH, nq, Lq, dh)`` over all compressed blocks
        ``k_cmp``/``v_cmp (BH, nb, dh)``; returns ``(BH, nq, Lq, dh)``."""
        bh, nq, lq, dh = q_tiles.shape
        out = F.scaled_dot_product_attention(
            q_tiles.reshape(bh, 1, nq * lq, dh), k_cmp[:, None], v_cmp[:, None], scale=self.softmax_scale
        )
        return out.view(bh, nq, lq, dh)

    def block_scores(self, q_tiles: torch.Tensor, k_cmp: torch.Tensor) -> torch.Tensor:
        """Selection scores ``(BH, nb, nb)``: the compressed attention of each query tile's
        mean query (a tile spans a block and a GQA group, so it shares one selection);
        rows sum to 1."""
        logits = q_tiles.mean(2) @ k_cmp.transpose(1, 2) * self.softmax_scale
        return logits.softmax(-1, dtype=torch.float32).to(q_tiles.dtype)

    def selected(
        self,
        q_tiles: torch.Tensor,
        k_blocks: torch.Tensor,
        v_blocks: torch.Tensor,
        scores: torch.Tensor,
        kappa: int,
        buffers: list[torch.Tensor | None],
    ) -> torch.Tensor:
        """Token-resolution attention over the top-``kappa`` blocks of each query tile.

        ``k_blocks``/``v_blocks (BH, nb, bs, dh)``; ``scores (BH, nq, nb)``; ``buffers``:
        optional flat tensors for the gathered keys and values (see :func:`gather_blocks`).
        """
        top_scores, top = scores.topk(kappa, dim=-1)
        keys = gather_blocks(k_blocks, top, buffers[0])
        values = gather_blocks(v_blocks, top, buffers[1])
        if top_scores.requires_grad:
            # Straight-through: the factor is 1 forward but passes gradients to the scores.
            bh, nq, _ = scores.shape
            bs, dh = k_blocks.shape[2:]
            factor = (1.0 + (top_scores - top_scores.detach()))[..., None, None]
            values = (values.view(bh, nq, kappa, bs, dh) * factor).view(bh, nq, kappa * bs, dh)
        return self.attend(q_tiles, keys, values, None)

    def attend(
        self, q_tiles: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, mask: torch.Tensor | None
    ) -> torch.Tensor:
        """Each query tile ``(BH, nq, Lq, dh)`` attends its own keys/values ``(BH, nq, Lk, dh)``.

        ``mask``: additive, broadcastable to ``(BH, nq, Lq, Lk)``, or None.
        """
        return F.scaled_dot_product_attention(q_tiles, keys, values, attn_mask=mask, scale=self.softmax_scale)


def gather_blocks(blocks: torch.Tensor, index: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """``blocks (BH, nb, bs, dh)``, ``index (BH, nq, m)`` -> keys ``(BH, nq, m * bs, dh)``.

    A row gather (``index_select`` on a flat view) rather than ``gather``: it copies
    whole blocks and needs no index tensor as large as its output. ``out``: an optional
    flat buffer (at least as large as the result) to write into instead of allocating.
    """
    bh, nb, bs, dh = blocks.shape
    nq, m = index.shape[1:]
    offsets = torch.arange(bh, device=index.device).view(bh, 1, 1) * nb
    rows = (index + offsets).reshape(-1)
    flat = blocks.reshape(bh * nb, bs * dh)
    if out is None:
        gathered = flat.index_select(0, rows)
    else:
        gathered = torch.index_select(flat, 0, rows, out=out[: rows.numel() * bs * dh].view(rows.numel(), bs * dh))
    return gathered.view(bh, nq, m * bs, dh)
