"""Structure-aware routing: the probes read the expert usage and the token maps of the forward
just run, their terms reach the router, and zero weights leave the task's loss."""

import dataclasses

import torch

from napari_bright4b.cli import main
from napari_bright4b.models.card import ModelCard
from napari_bright4b.models.checkpoint import build_model
from napari_bright4b.models.config import HeadConfig
from napari_bright4b.models.presets import PRESETS
from napari_bright4b.training.structure_routing import RoutingSupervision, StructureRouting

from .recipes.test_folder import make_folder

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


def test_a_router_context_is_trained_by_the_routing_term():
    config = dataclasses.replace(CARD.config, router_context=True)
    model = build_model(dataclasses.replace(CARD, config=config))
    objective = StructureRouting(model, _nothing, channels=2, token_weight=0.0, routing_weight=0.5)
    image = torch.rand(1, 1, 4, 64, 64)
    objective(model(image), image, (torch.rand(1, 2, 4, 64, 64) > 0.7).float()).backward()
    assert all(block.moe.router_context.grad.abs().sum() > 0 for block in model.blocks)


def test_a_recipe_with_routing_supervision_trains_through_it(tmp_path, monkeypatch, capsys):
    from napari_bright4b.training.recipes import folder

    made = []
    supervision = RoutingSupervision(token_weight=0.0, routing_weight=1.0, sharpen=(1, 2))
    real_recipe, real_loss = folder.folder_recipe, RoutingSupervision.loss

    def supervised(*args, **kwargs):
        return dataclasses.replace(real_recipe(*args, **kwargs), routing_supervision=supervision)

    def spied(self, model, task, channels):
        made.append((real_loss(self, model, task, channels), model))
        return made[-1][0]

    monkeypatch.setattr(folder, "folder_recipe", supervised)
    monkeypatch.setattr(RoutingSupervision, "loss", spied)
    data = make_folder(tmp_path / "data", classes=1)
    argv = ["train", "folder", "--data", str(data), "--classes", "cells", "-o", str(tmp_path / "m.safetensors")]
    assert main([*argv, "--steps", "3", "--json"]) == 0
    ((objective, model),) = made
    assert int(objective.step) == 3 and objective.weights == (0.0, 1.0)  # every step went through it
    assert all(block.moe.confidence_weight == model.config.routing_confidence for block in model.blocks)
    objective.combine = []
    model(torch.rand(1, 1, 4, 64, 64))
    assert objective.combine == []  # and its hooks are off the model after training


def test_a_shorter_run_ramps_the_confidence_at_the_same_fractions_of_it():
    supervision = RoutingSupervision(token_weight=0.5, routing_weight=1.0, sharpen=(2200, 3300))
    assert supervision.for_steps(1000, 4400) == RoutingSupervision(0.5, 1.0, (500, 750))
    assert RoutingSupervision().for_steps(10, 4400).sharpen is None
