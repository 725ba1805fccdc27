import torch
from torch import nn

from napari_bright4b.nn.hypersphere import l2norm, mark_unit_norm, renormalize_, spherical_update


def test_l2norm_gives_unit_vectors_even_in_bfloat16():
    x = torch.randn(5, 7, 32) * 100
    assert torch.allclose(l2norm(x).norm(dim=-1), torch.ones(5, 7), atol=1e-5)
    half = l2norm(x.bfloat16())
    assert half.dtype == torch.bfloat16
    assert torch.allclose(half.float().norm(dim=-1), torch.ones(5, 7), atol=1e-2)


def test_spherical_update_is_unit_norm_and_interpolates():
    h = l2norm(torch.randn(4, 16))
    u = torch.randn(4, 16) * 3
    assert torch.allclose(spherical_update(h, u, torch.zeros(16)), h, atol=1e-6)
    assert torch.allclose(spherical_update(h, u, torch.ones(16)), l2norm(u), atol=1e-6)
    mid = spherical_update(h, u, torch.full((16,), 0.3))
    assert torch.allclose(mid.norm(dim=-1), torch.ones(4), atol=1e-6)
    # The step moves towards the proposal: the angle to norm(u) shrinks.
    assert ((mid * l2norm(u)).sum(-1) > (h * l2norm(u)).sum(-1)).all()


def test_renormalize_restores_marked_weights_only():
    layer = nn.Linear(8, 6, bias=False)
    other = nn.Linear(8, 6)
    model = nn.Sequential(layer, other)
    mark_unit_norm(layer, "weight", dim=1)
    assert torch.allclose(layer.weight.norm(dim=1), torch.ones(6), atol=1e-6)
    with torch.no_grad():
        layer.weight.mul_(3.0)
    before = other.weight.clone()
    assert renormalize_(model) == 1
    assert torch.allclose(layer.weight.norm(dim=1), torch.ones(6), atol=1e-6)
    assert torch.equal(other.weight, before)
