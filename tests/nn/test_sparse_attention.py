import math

import pytest
import torch

import napari_bright4b.nn.sparse_attention as nsa_module
from napari_bright4b.nn.sparse_attention import NativeSparseAttention3D
from napari_bright4b.nn.token_lattice import BlockLattice

LATTICE = BlockLattice((4, 8, 8), (2, 4, 4))  # 8 blocks of 32 tokens


def make_attention(kappa=8, gate_bias=(-1.0, -1.0, 2.0), window=(1, 1, 1)):
    return NativeSparseAttention3D(
        dim=32,
        heads=4,
        kv_heads=2,
        head_dim=8,
        block_size=32,
        kappa=kappa,
        window_radius=window,
        compress_hidden=16,
        gate_bias=gate_bias,
    )


def only(path: str):
    """Gate logits that switch on exactly one path (the others get a gate of exactly 0)."""
    return tuple(40.0 if p == path else float("-inf") for p in NativeSparseAttention3D.PATHS)


def reference_attention(q, k, v, scale, allowed=None):
    """Textbook attention with key/value heads repeated for their query group.

    Inputs are ``(B, N, heads, dh)`` as the module produces them; returns the same layout.
    """
    q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
    groups = q.shape[1] // k.shape[1]
    k, v = k.repeat_interleave(groups, 1), v.repeat_interleave(groups, 1)
    logits = q @ k.transpose(-1, -2) * scale
    if allowed is not None:
        logits = logits.masked_fill(~allowed, float("-inf"))
    return (logits.softmax(-1) @ v).transpose(1, 2)


def tokens(n=LATTICE.num_blocks * LATTICE.block_size, batch=2):
    return torch.randn(batch, n, 32)


def test_selection_covering_all_blocks_equals_dense_attention():
    attention = make_attention(kappa=LATTICE.num_blocks, gate_bias=only("selection"))
    torch.nn.init.zeros_(attention.gate_weight)
    q, k, v = attention.project(tokens())
    sparse = attention.sparse(q, k, v, LATTICE)
    assert torch.allclose(sparse, attention.dense(q, k, v), atol=1e-5)
    assert torch.allclose(sparse, reference_attention(q, k, v, attention.softmax_scale), atol=1e-5)


def test_window_path_equals_masked_dense_reference():
    attention = make_attention(kappa=2, gate_bias=only("window"), window=(0, 1, 0))
    torch.nn.init.zeros_(attention.gate_weight)
    q, k, v = attention.project(tokens())
    index, valid = LATTICE.neighbours((0, 1, 0))
    block_allowed = torch.zeros(LATTICE.num_blocks, LATTICE.num_blocks, dtype=torch.bool)
    for b in range(LATTICE.num_blocks):
        block_allowed[b, index[b][valid[b]]] = True
    token_block = LATTICE.block_of_token()
    allowed = block_allowed[token_block][:, token_block]
    expected = reference_attention(q, k, v, attention.softmax_scale, allowed)
    assert torch.allclose(attention.sparse(q, k, v, LATTICE), expected, atol=1e-5)


def test_compression_path_and_block_scores_match_their_definitions():
    attention = make_attention()
    q_tiles, k_blocks, v_blocks = attention.tiles(*attention.project(tokens()), LATTICE)
    assert q_tiles.shape == (4, 8, 64, 8) and k_blocks.shape == (4, 8, 32, 8)
    k_cmp, v_cmp = attention.compress_k(k_blocks), attention.compress_v(v_blocks)
    logits = q_tiles @ k_cmp[:, None].transpose(-1, -2) * attention.softmax_scale
    assert torch.allclose(attention.compressed(q_tiles, k_cmp, v_cmp), logits.softmax(-1) @ v_cmp[:, None], atol=1e-5)
    scores = attention.block_scores(q_tiles, k_cmp)
    assert scores.shape == (4, 8, 8)
    assert (scores >= 0).all() and torch.allclose(scores.sum(-1), torch.ones(4, 8), atol=1e-5)


def test_sparse_selection_differs_from_dense_when_kappa_is_small():
    attention = make_attention(kappa=1, gate_bias=only("selection"))
    torch.nn.init.zeros_(attention.gate_weight)
    q, k, v = attention.project(tokens())
    assert not torch.allclose(attention.sparse(q, k, v, LATTICE), attention.dense(q, k, v), atol=1e-3)


def test_chunking_and_reused_buffers_do_not_change_the_output(monkeypatch):
    attention = make_attention(kappa=3)
    x = tokens()
    full = attention(x, LATTICE)
    monkeypatch.setattr(nsa_module, "_CHUNK_ELEMENTS", 1)
    assert torch.allclose(attention(x, LATTICE), full, atol=1e-6)
    with torch.no_grad():  # the inference path gathers into reused buffers
        assert torch.allclose(attention(x, LATTICE), full, atol=1e-6)


def test_every_parameter_gets_a_gradient():
    attention = make_attention(kappa=2)
    attention(tokens(), LATTICE).square().sum().backward()
    for name, param in attention.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


def test_straight_through_trains_the_compressor_through_selection_alone():
    attention = make_attention(kappa=2, gate_bias=only("selection"))
    torch.nn.init.zeros_(attention.gate_weight)
    attention(tokens(), LATTICE).square().sum().backward()
    assert attention.compress_k.mlp[0].weight.grad.abs().sum() > 0


def test_gates_are_per_head_sigmoids_favouring_the_window_at_init():
    attention = make_attention()
    q, _, _ = attention.project(tokens())
    gates = attention.gates(q)
    assert gates.shape == (2, 256, 4, 3)
    assert ((gates > 0) & (gates < 1)).all()
    assert (gates[..., 2].mean() > gates[..., 0].mean()) and (gates[..., 2].mean() > gates[..., 1].mean())


def test_dense_mode_and_validation():
    dense = NativeSparseAttention3D(32, 4, 2, 8, 32, 2, (1, 1, 1), 16, mode="dense")
    x = tokens(batch=1)
    q, k, v = dense.project(x)
    expected = reference_attention(q, k, v, math.sqrt(8))
    out = dense.o_proj(expected.reshape(1, 256, 32))
    assert torch.allclose(dense(x, LATTICE), out, atol=1e-5)
    with pytest.raises(ValueError, match="multiple of kv_heads"):
        NativeSparseAttention3D(32, 3, 2, 8, 32, 2, (1, 1, 1), 16)


def test_kv_heads_equal_to_heads_is_plain_multi_head_attention():
    attention = NativeSparseAttention3D(32, 4, 4, 8, 32, 8, (1, 1, 1), 16, gate_bias=only("selection"))
    torch.nn.init.zeros_(attention.gate_weight)
    q, k, v = attention.project(tokens())
    assert torch.allclose(attention.sparse(q, k, v, LATTICE), reference_attention(q, k, v, math.sqrt(8)), atol=1e-5)


def test_bfloat16_forward_tracks_float32():
    # kappa covers every block: bf16 rounding could otherwise flip a top-k choice.
    attention = make_attention(kappa=LATTICE.num_blocks)
    x = tokens()
    expected = attention(x, LATTICE)
    half = attention.to(torch.bfloat16)(x.bfloat16(), LATTICE)
    assert half.dtype == torch.bfloat16 and torch.isfinite(half).all()
    assert (half.float() - expected).abs().max() < 0.05 * expected.abs().max()
