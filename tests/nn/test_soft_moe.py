import math

import pytest
import torch
import torch.nn.functional as F

from napari_bright4b.nn.hypersphere import l2norm
from napari_bright4b.nn.soft_moe import HypersphericalSoftMoE


def make_moe(**kw):
    return HypersphericalSoftMoE(dim=16, num_experts=3, slots_per_expert=2, expert_hidden=24, **kw)


def test_dispatch_columns_and_combine_rows_are_convex_weights():
    moe = make_moe()
    dispatch, combine = moe.routing(l2norm(torch.randn(2, 50, 16)))
    assert dispatch.shape == combine.shape == (2, 50, 6)
    assert (dispatch >= 0).all() and (combine >= 0).all()
    assert torch.allclose(dispatch.sum(1), torch.ones(2, 6), atol=1e-5)  # each slot averages tokens
    assert torch.allclose(combine.sum(2), torch.ones(2, 50), atol=1e-5)  # each token averages slots


def test_slot_count_is_fixed_as_tokens_grow():
    moe = make_moe()
    for m in (7, 70, 700):
        dispatch, _ = moe.routing(torch.randn(1, m, 16))
        assert dispatch.shape[-1] == moe.num_slots == 6


def test_batched_experts_equal_a_loop_over_experts():
    moe = make_moe()
    slots = torch.randn(2, 6, 16)
    expected = torch.empty_like(slots)
    for e in range(3):
        chunk = slots[:, 2 * e : 2 * e + 2]
        hidden = F.gelu(chunk @ moe.w_in[e] * math.sqrt(16))
        expected[:, 2 * e : 2 * e + 2] = hidden @ moe.w_out[e]
    assert torch.allclose(moe.experts(slots), expected, atol=1e-5)


def test_output_is_the_combine_weighted_average_of_expert_outputs():
    moe = make_moe()
    x = l2norm(torch.randn(1, 20, 16))
    dispatch, combine = moe.routing(x)
    slots = l2norm(dispatch.transpose(1, 2) @ x)
    assert torch.allclose(moe(x), combine @ moe.experts(slots), atol=1e-5)


def one_hot_routing(slot_of_token: torch.Tensor, slots: int, tokens: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Dispatch and combine ``(1, m, s)`` of tokens each sent wholly to ``slot_of_token[t]``;
    each slot reads its tokens evenly (a slot nobody uses reads every token)."""
    combine = torch.nn.functional.one_hot(slot_of_token, slots).float()[None]
    counts = combine.sum(1, keepdim=True)
    dispatch = torch.where(counts > 0, combine / counts.clamp_min(1), torch.full_like(combine, 1 / tokens))
    return dispatch, combine


def test_a_router_sending_every_token_to_one_expert_is_penalized():
    moe = make_moe()  # 3 experts x 2 slots
    dispatch, combine = one_hot_routing(torch.zeros(30, dtype=torch.long), 6, 30)
    assert moe.load_balance(dispatch, combine).item() == pytest.approx(1.0, abs=1e-4)  # the whole load term


def test_confident_tokens_spread_evenly_over_the_experts_cost_nothing():
    moe = make_moe()
    slots = torch.arange(30) % 6  # 5 tokens per slot, 10 per expert, each token wholly on one slot
    dispatch, combine = one_hot_routing(slots, 6, 30)
    assert moe.load_balance(dispatch, combine).item() == pytest.approx(0.0, abs=1e-4)


def test_uniform_routing_pays_only_for_its_lack_of_confidence_and_the_loss_is_bounded():
    moe = make_moe(balance_weight=0.5)
    with torch.no_grad():
        moe.logit_scale.zero_()
    moe(torch.randn(2, 40, 16))
    assert moe.balance_loss.item() == pytest.approx(0.5 * moe.confidence_weight, abs=1e-5)
    sharp = make_moe(balance_weight=0.5, logit_scale=200.0)
    sharp(torch.randn(2, 40, 16))
    assert 0.0 <= sharp.balance_loss.item() <= 0.5 * (2 + sharp.confidence_weight)


def test_the_routing_method_gives_the_routing_the_forward_pass_uses():
    moe = make_moe()
    x = torch.randn(1, 10, 16)
    dispatch, combine = moe.routing(x)
    slots = l2norm(torch.einsum("bms,bmd->bsd", dispatch, x))
    torch.testing.assert_close(moe(x), torch.einsum("bms,bsd->bmd", combine, moe.experts(slots)))


def test_centred_routing_ignores_what_every_token_shares():
    torch.manual_seed(0)
    x = torch.randn(4, 30, 16)
    common = 50 * torch.randn(1, 1, 16)  # a direction every token carries, as in a trained model
    centred, plain = make_moe(centred=True), make_moe()
    plain.load_state_dict(centred.state_dict(), strict=False)
    centred(x + common)  # a training forward learns the centre
    centred.eval()
    want = plain.routing(x - x.mean((0, 1)))[1]
    torch.testing.assert_close(centred.routing(x + common)[1], want, atol=1e-4, rtol=1e-4)
    combine = plain.routing(x + common)[1]  # uncentred, the common direction routes every token alike
    assert (combine - combine.mean(1, keepdim=True)).abs().max() < 0.5 * (want - want.mean(1, keepdim=True)).abs().max()


def test_the_running_centre_is_per_stream_and_a_token_routes_alike_in_any_tile():
    torch.manual_seed(0)
    moe = make_moe(centred=True, streams=2)
    first, second = torch.randn(6, 30, 16), torch.randn(6, 30, 16)  # (3 samples x 2 streams), stream-minor
    first_mean, second_mean = (x.unflatten(0, (3, 2)).mean((0, 2)) for x in (first, second))  # (streams, dim)
    moe(first)
    torch.testing.assert_close(moe.router_centre, first_mean)  # the first update takes the batch's mean
    moe(second)
    torch.testing.assert_close(moe.router_centre, torch.lerp(first_mean, second_mean, max(1 / 2, moe.centre_momentum)))
    centre = moe.router_centre.clone()
    moe.routing(second)  # reading the routing (as the inspection and training hooks do) does not move it
    moe.eval()
    whole, part = moe.routing(first)[1], moe.routing(first[:, :10])[1]
    torch.testing.assert_close(part, whole[:, :10])  # the same tokens cut with fewer neighbours
    moe(second)
    assert torch.equal(moe.router_centre, centre)  # nor does evaluation


def test_streams_that_split_the_experts_between_them_are_penalized_though_the_total_is_even():
    moe = make_moe(streams=2)  # 3 experts x 2 slots; inputs (B * 2 streams, m, slots), stream-minor
    first, second = torch.zeros(30, dtype=torch.long), torch.full((30,), 2)  # stream 0 on expert 0, stream 1 on 1
    routings = [one_hot_routing(slots, 6, 30) for slots in (first, second)]
    dispatch, combine = (torch.cat(parts) for parts in zip(*routings))
    pooled = make_moe(streams=1).load_balance(dispatch, combine).item()
    assert moe.load_balance(dispatch, combine).item() == pytest.approx(1.0, abs=1e-4)  # each stream on one expert
    assert pooled < 0.5  # pooled over the streams, the same routing looks fairly balanced
    spread = torch.arange(30) % 6
    dispatch, combine = (torch.cat(parts) for parts in zip(*[one_hot_routing(spread, 6, 30)] * 2))
    assert moe.load_balance(dispatch, combine).item() == pytest.approx(0.0, abs=1e-4)


def test_a_router_context_starts_silent_and_then_moves_only_the_routing():
    torch.manual_seed(0)
    x, context = l2norm(torch.randn(4, 30, 16)), torch.randn(2, 30, 5)  # 2 samples x 2 streams
    plain, reading = make_moe(streams=2), make_moe(streams=2, context_width=5)
    reading.load_state_dict(plain.state_dict(), strict=False)
    torch.testing.assert_close(reading(x, context), plain(x))  # zero weights: routed as without
    reading(x, context).square().sum().backward()
    assert reading.router_context.grad.abs().sum() > 0  # training reaches them
    with torch.no_grad():
        reading.router_context.copy_(torch.randn(5, 16))
    # rows are stream-minor (sample b, stream e at 2b + e, as the hyper-connections fold them):
    # each stream reads its own sample's context
    routed = torch.stack([x[2 * b + e] + context[b] @ reading.router_context for b in range(2) for e in range(2)])
    for got, expected in zip(reading.routing(x, context), plain.routing(routed)):
        torch.testing.assert_close(got, expected)
    dispatch, combine = reading.routing(x, context)
    slots = l2norm(torch.einsum("bms,bmd->bsd", dispatch, x))  # the experts still mix the tokens alone
    torch.testing.assert_close(reading(x, context), torch.einsum("bms,bsd->bmd", combine, reading.experts(slots)))
    with pytest.raises(ValueError, match="pass context"):
        reading.routing(x)
    with pytest.raises(ValueError, match="no context weights"):
        plain.routing(x, context)
