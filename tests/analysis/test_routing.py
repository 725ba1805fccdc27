"""Per-token routing statistics: normalized entropy, expert shares, stream and head means."""

import math

import pytest
import torch

from napari_bright4b.analysis.routing import expert_weights, gate_maps, normalized_entropy, routing_maps


def test_entropy_is_zero_for_one_hot_one_for_uniform_and_within_bounds():
    one_hot = torch.nn.functional.one_hot(torch.tensor([0, 3, 5]), 6).float()
    assert torch.equal(normalized_entropy(one_hot), torch.zeros(3))
    assert torch.allclose(normalized_entropy(torch.full((2, 6), 1 / 6)), torch.ones(2))
    two_of_four = torch.tensor([0.5, 0.5, 0.0, 0.0])
    assert normalized_entropy(two_of_four).item() == pytest.approx(math.log(2) / math.log(4))
    random = torch.distributions.Dirichlet(torch.full((8,), 0.3)).sample((1000,))
    values = normalized_entropy(random)
    assert (values >= 0).all() and (values <= 1).all() and values.min() < 0.5 < values.max()
    assert torch.equal(normalized_entropy(torch.ones(4, 1)), torch.zeros(4))  # one slot: nothing to choose


def test_an_experts_share_is_the_sum_of_its_slots():
    combine = torch.zeros(1, 3, 8)  # 4 experts x 2 slots: slot j belongs to expert j // 2
    combine[0, 0, 5] = 1.0
    combine[0, 1, [0, 1]] = 0.5
    combine[0, 2] = 1 / 8
    weights = expert_weights(combine, 4)
    assert torch.equal(weights[0, 0], torch.tensor([0.0, 0.0, 1.0, 0.0]))
    assert torch.equal(weights[0, 1], torch.tensor([1.0, 0.0, 0.0, 0.0]))
    assert torch.allclose(weights[0, 2], torch.full((4,), 0.25))


def test_routing_maps_average_the_streams_and_keep_the_token_order():
    streams, tokens, slots = 2, 5, 6
    combine = torch.softmax(torch.randn(3 * streams, tokens, slots), -1)
    combine[0] = torch.nn.functional.one_hot(torch.arange(tokens) % slots, slots).float()  # batch 0, stream 0
    combine[1] = 1 / slots  # batch 0, stream 1: uniform
    entropy, shares = routing_maps(combine, num_experts=3, streams=streams)
    assert entropy.shape == (3, tokens) and shares.shape == (3, tokens, 3)
    assert torch.allclose(entropy[0], torch.full((tokens,), 0.5))  # mean of 0 and 1
    expected = (expert_weights(combine[0], 3) + expert_weights(combine[1], 3)) / 2
    assert torch.allclose(shares[0], expected)
    assert torch.allclose(shares.sum(-1), torch.ones(3, tokens))  # shares sum to 1 per token


def test_gate_maps_are_the_mean_over_heads_and_streams():
    gates = torch.rand(2 * 2, 7, 4, 3)  # B=2, E=2 streams, 7 tokens, 4 heads, 3 paths
    maps = gate_maps(gates, streams=2)
    assert maps.shape == (2, 7, 3)
    assert torch.allclose(maps[1, 4], gates[2:4, 4].mean(dim=(0, 1)))
