import torch
from torch import nn

from napari_bright4b.nn.hyper_connections import DynamicHyperConnection
from napari_bright4b.nn.hypersphere import l2norm, spherical_update


def test_one_stream_with_zero_scales_is_exactly_the_normalized_residual():
    connection = DynamicHyperConnection(dim=12, streams=1, width_scale=0.0, depth_scale=0.0, step_init=0.2)
    sublayer = nn.Linear(12, 12)
    h = l2norm(torch.randn(3, 1, 9, 12))
    expected = spherical_update(h, sublayer(h.reshape(3, 9, 12)).view(3, 1, 9, 12), connection.step)
    assert torch.allclose(connection(h, sublayer), expected, atol=1e-6)


def test_streams_stay_unit_norm_and_keep_their_shape():
    connection = DynamicHyperConnection(dim=12, streams=2)
    h = l2norm(torch.randn(2, 2, 9, 12))
    out = connection(h, nn.Linear(12, 12))
    assert out.shape == h.shape
    assert torch.allclose(out.norm(dim=-1), torch.ones(2, 2, 9), atol=1e-5)


def test_mixer_and_gate_follow_the_streams_within_their_scales():
    connection = DynamicHyperConnection(dim=12, streams=3, width_scale=0.01, depth_scale=0.02, step_init=0.05)
    a, b = l2norm(torch.randn(2, 4, 3, 12)).unbind(0)
    mixer_a, mixer_b = connection.width_mixer(a), connection.width_mixer(b)
    assert mixer_a.shape == (4, 3, 3)
    assert not torch.allclose(mixer_a, mixer_b)  # input-conditioned
    assert torch.allclose(mixer_a.mean(0), torch.eye(3), atol=0.01)  # near the identity
    gate = connection.depth_gate(a)
    assert gate.shape == (4, 12)
    assert ((gate > 0.05) & (gate < 0.07)).all()  # alpha_0 + s_beta * sigmoid(...)


def test_all_connection_parameters_receive_gradients():
    connection = DynamicHyperConnection(dim=12, streams=2)
    h = l2norm(torch.randn(2, 2, 9, 12))
    connection(h, nn.Linear(12, 12)).sum().backward()
    for name, param in connection.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name
