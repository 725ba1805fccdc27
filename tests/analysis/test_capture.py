"""Capture inside a Bright-4B model: it changes no output, leaves no hook or state behind, records
the routing and gates the pass used, and puts each token's at the token's place on the lattice."""

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from napari_bright4b.analysis.capture import capture_tile, capturing
from napari_bright4b.analysis.routing import expert_weights, normalized_entropy
from napari_bright4b.api import load_model
from napari_bright4b.models.bright4b import Bright4B
from napari_bright4b.models.config import HeadConfig
from napari_bright4b.models.presets import PRESETS
from napari_bright4b.nn.padding import pad_to_multiple
from napari_bright4b.nn.soft_moe import HypersphericalSoftMoE, mean_entropy
from napari_bright4b.nn.sparse_attention import NativeSparseAttention3D


@pytest.fixture(scope="module")
def nano():
    return load_model("nano", quiet=True)[0]


def leftovers(model):
    """Forward hooks left on the model, and the attributes of its Soft-MoE and NSA modules."""
    hooks = sum(len(module._forward_hooks) for module in model.modules())
    return hooks, [(sorted(vars(b.moe)), sorted(vars(b.attention))) for b in model.blocks]


def test_outputs_with_capture_on_equal_outputs_with_it_off(nano):
    x = torch.rand(1, 1, 16, 64, 64)
    with torch.no_grad():
        off = nano(x)
        off_states = nano.encode(pad_to_multiple(x, nano.config.spatial_multiple)).layers
        with capturing(nano) as kept:
            on = nano(x)
            on_states = nano.encode(pad_to_multiple(x, nano.config.spatial_multiple)).layers
    assert all(combine is not None for combine in kept.combine) and all(g is not None for g in kept.gates)
    assert torch.equal(on, off)
    assert all(torch.equal(a, b) for a, b in zip(on_states, off_states))


def test_capture_leaves_no_hook_and_no_state_in_the_modules(nano):
    x = torch.rand(1, 1, 8, 64, 64)
    with torch.no_grad():
        nano(x)
    before = leftovers(nano)
    assert before[0] == 0
    capture_tile(nano, x[0])
    assert leftovers(nano) == before  # hooks removed when capture ends
    with pytest.raises(RuntimeError), capturing(nano):
        raise RuntimeError("a failing pass")
    assert leftovers(nano) == before


def block_major_index(shape, brick):
    """``(Z, Y, X)`` the block-major position of each raster token, written out independently."""
    z, y, x = np.indices(shape)
    (bz, by, bx), (_, gy, gx) = brick, [s // b for s, b in zip(shape, brick)]
    block = ((z // bz) * gy + y // by) * gx + x // bx
    return block * bz * by * bx + ((z % bz) * by + y % by) * bx + x % bx


def spy(patch, cls, name: str, calls: list) -> None:
    """Record every result of method ``cls.name`` while ``patch`` (a monkeypatch context) lasts."""
    original = getattr(cls, name)

    def recorded(self, *args):
        calls.append(original(self, *args))
        return calls[-1]

    patch.setattr(cls, name, recorded)


def test_each_token_gets_the_routing_and_gates_its_pass_used(nano, monkeypatch):
    tile = torch.rand(1, 8, 128, 128)  # a lattice of 4 x 8 x 8 tokens in 2 x 2 x 2 bricks
    config = nano.config
    routings, gates = [], []
    with torch.no_grad(), monkeypatch.context() as patch:  # what a plain pass computes, block after block
        spy(patch, HypersphericalSoftMoE, "routing", routings)
        spy(patch, NativeSparseAttention3D, "gates", gates)
        nano.encode(tile[None])
    routings = [combine for _, combine in routings]
    assert len(routings) == len(gates) == config.depth
    maps = capture_tile(nano, tile)
    shape = (4, 8, 8)
    assert maps.entropy.shape == (4, *shape) and maps.usage.shape == (4, 4, *shape)
    assert maps.gates.shape == (4, 3, *shape)
    where = torch.from_numpy(block_major_index(shape, config.brick))
    assert not torch.equal(where.flatten(), torch.arange(where.numel()))  # the orders differ
    for layer, (combine, gate) in enumerate(zip(routings, gates)):
        rows = combine[:, where]  # (E, Z, Y, X, slots): each token's combine weights in each stream
        entropy = normalized_entropy(rows).mean(0)
        np.testing.assert_allclose(maps.entropy[layer], entropy, atol=1e-6)
        np.testing.assert_allclose(maps.usage[layer], expert_weights(rows, 4).mean(0).permute(3, 0, 1, 2), atol=1e-6)
        paths = gate[:, where].mean(dim=(0, 4)).permute(3, 0, 1, 2)  # over streams and heads
        np.testing.assert_allclose(maps.gates[layer], paths, atol=1e-6)


def test_the_mean_entropy_is_the_row_entropy_the_balancing_loss_raises(nano):
    tile = torch.rand(1, 8, 64, 128)  # a multiple of the padding: every token is real
    with torch.no_grad(), capturing(nano) as kept:
        nano.encode(tile[None])
    expected = [mean_entropy(combine, dim=2).item() / math.log(8) for combine in kept.combine]
    maps = capture_tile(nano, tile)
    np.testing.assert_allclose(maps.entropy.mean(axis=(1, 2, 3)), expected, atol=1e-6)
    assert (maps.entropy >= 0).all() and (maps.entropy <= 1).all()
    np.testing.assert_allclose(maps.usage.sum(1), 1.0, atol=1e-5)


def test_maps_cover_the_tile_and_keep_the_chosen_layers_features(nano):
    tile = torch.rand(1, 7, 50, 33)  # not a multiple of the (2, 16, 16) patch: last tokens overhang
    maps = capture_tile(nano, tile, feature_layers=(2, 4))
    assert maps.entropy.shape == (4, 4, 4, 3) and maps.usage.shape == (4, 4, 4, 4, 3)
    assert set(maps.features) == {2, 4} and maps.features[4].shape == (64, 4, 4, 3)
    np.testing.assert_allclose(np.linalg.norm(maps.features[4], axis=0), 1.0, atol=1e-5)  # states on the sphere
    encoded = nano.encode(pad_to_multiple(tile[None], nano.config.spatial_multiple))
    np.testing.assert_allclose(maps.features[2], encoded.token_map(1)[0, :, :4, :4, :3].detach().numpy(), atol=1e-6)


def test_dense_attention_has_no_gates():
    model = Bright4B(replace(PRESETS["nano"].config, attention="dense"), HeadConfig()).eval()
    maps = capture_tile(model, torch.rand(1, 8, 64, 64))
    assert maps.gates is None and maps.entropy.shape == (4, 4, 4, 4)
    assert leftovers(model)[0] == 0
