"""Structure-aware routing: the probes read the expert usage and the token maps of the forward
just run, their terms reach the router, and zero weights leave the task's loss."""

import math

import pytest
import torch

from napari_bright4b.models.card import ModelCard
from napari_bright4b.models.checkpoint import build_model
from napari_bright4b.models.config import HeadConfig
from napari_bright4b.models.presets import PRESETS
from napari_bright4b.training.structure_routing import StructureRouting, assignment_error

CARD = ModelCard(name="t", config=PRESETS["nano"].config, head=HeadConfig("segment", ("a", "b"), "sigmoid"))


def _nothing(output, image, target):
    return output.sum() * 0.0


def _forward(weights=(0.5, 0.5)):
    torch.manual_seed(0)
    model = build_model(CARD)
    objective = StructureRouting(model, _nothing, channels=2, token_weight=weights[0], routing_weight=weights[1])
    image = torch.rand(2, 1, 4, 64, 64)
    target = (torch.rand(2, 2, 4, 64, 64) > 0.7).float()
    return model, objective, objective(model(image), image, target)


def test_the_usage_maps_are_each_tokens_expert_shares_on_the_lattice():
    model, objective, _ = _forward()
    maps = objective.usage_maps()
    assert len(maps) == CARD.config.depth
    for usage in maps:
        assert usage.shape == (2, CARD.config.num_experts, *objective.lattice.shape)
        torch.testing.assert_close(usage.sum(1), torch.ones_like(usage[:, 0]))


def test_the_routing_term_trains_the_router_and_its_probes():
    model, objective, value = _forward(weights=(0.0, 0.5))
    value.backward()
    assert value > 0
    assert all(block.moe.slot_keys.grad.abs().sum() > 0 for block in model.blocks)
    assert all(probe.weight.grad.abs().sum() > 0 for probe in objective.routing_probes)
    assert all(probe.weight.grad is None for probe in objective.token_probes)


def test_zero_weights_leave_the_task_loss_and_removed_hooks_keep_nothing():
    model, objective, value = _forward(weights=(0.0, 0.0))
    assert value == 0.0
    objective.remove()
    objective.combine = []
    model(torch.rand(1, 1, 4, 64, 64))
    assert objective.combine == []


def test_the_confidence_term_is_off_until_the_ramp_starts_then_reaches_the_models_weight():
    torch.manual_seed(0)
    model = build_model(CARD)
    objective = StructureRouting(model, _nothing, channels=2, sharpen=(2, 4))
    image, target = torch.rand(1, 1, 4, 64, 64), (torch.rand(1, 2, 4, 64, 64) > 0.7).float()
    seen = []
    for _ in range(6):
        objective(model(image), image, target)
        seen.append(model.blocks[0].moe.confidence_weight)  # the weight this step's balance loss used
    full = CARD.config.routing_confidence
    assert seen == [0.0, 0.0, 0.0, 0.5 * full, full, full]
    objective.remove()
    assert all(block.moe.confidence_weight == full for block in model.blocks)


def test_assignment_asks_the_expert_a_structure_leans_on_to_take_its_tokens_and_only_them():
    nuclei = (torch.arange(64) % 4 == 0).float().view(1, 1, 4, 4, 4)  # a quarter of the tokens are nuclei
    shares = torch.cat([nuclei, 0.5 * nuclei * (torch.arange(64) % 8 == 0).view(1, 1, 4, 4, 4)], 1)  # + rarer
    usage = torch.full((1, 3, 4, 4, 4), 0.2)
    usage[:, 1] = 0.6 * nuclei + 0.3 * (1 - nuclei)  # nuclei, the most common structure, lean on expert 1
    usage[:, 2] = 1 - usage[:, 0] - usage[:, 1]
    want = -(0.25 * math.log(0.6) + 0.75 * math.log(0.7))  # nuclei tokens to expert 1, the rest away from it
    leaders = torch.full((2,), -1)
    assert assignment_error(usage, shares, leaders, 1).item() == pytest.approx(want, abs=1e-5)
    assert leaders.tolist() == [-1, 1]  # layer 1's leader is set once, then kept
    following = torch.cat([torch.zeros_like(nuclei), nuclei, 1 - nuclei], 1)
    assert assignment_error(following, shares, leaders, 1).item() == pytest.approx(0.0, abs=1e-4)
    elsewhere = torch.cat([torch.zeros_like(nuclei), 1 - nuclei, nuclei], 1)  # expert 2 now leads on nuclei
    assert assignment_error(elsewhere, shares, leaders, 1).item() > 5 and leaders.tolist() == [-1, 1]
    usage.requires_grad_(True)
    assignment_error(usage, shares, leaders, 1).backward()
    grad, inside = usage.grad[:, 1], nuclei[:, 0] > 0
    assert (grad[inside] < 0).all() and (grad[~inside] > 0).all() and (usage.grad[:, 0] == 0).all()
