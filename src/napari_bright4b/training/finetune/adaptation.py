"""How a base model is adapted to painted classes: its head, and which weights train.

Modes, each training a superset of the one before:

- ``head``: the segmentation head and the decoder's last (full-resolution) stage; the
  transformer and the rest of the decoder are frozen, so a step back-propagates through
  that stage only (the fastest);
- ``adapter``: also low-rank adapters (:mod:`...nn.adapters`) on every attention
  projection (q, k, v, o) and on every expert's weights (``w_in``, ``w_out``); the base
  weights stay frozen and the adapters are merged into them when the model is saved;
- ``full``: every weight.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import torch

from ...models.bright4b import Bright4B
from ...models.card import ModelCard
from ...models.config import HeadConfig
from ...models.heads import build_head
from ...nn.adapters import add_adapter
from .modes import NETWORK_MODES as MODES

ATTENTION_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj")
EXPERT_WEIGHTS = ("w_in", "w_out")
PART_SHARE = 0.8


def softmax_head(class_names: Sequence[str]) -> HeadConfig:
    return HeadConfig("segment", tuple(class_names), "softmax")


@torch.no_grad()
def nested_parts(
    probabilities: torch.Tensor, class_names: Sequence[str], cuts: Sequence[float] | None = None
) -> dict[str, str]:
    """``{part: whole}`` among overlapping (sigmoid) classes: from ``probabilities (B, K, ...)``,
    each class whose mask (> its cut, 0.5 unless ``cuts`` says) lies at least
    :data:`PART_SHARE` inside a larger class's mask (nucleoli inside nuclei) is a part of
    the smallest such class."""
    cut = torch.tensor(cuts if cuts is not None else [0.5] * len(class_names), dtype=probabilities.dtype)
    masks = (probabilities > cut.view(1, -1, *[1] * (probabilities.ndim - 2))).transpose(0, 1).flatten(1)
    sizes = masks.sum(1)
    overlap = (masks[:, None] & masks[None]).sum(-1)  # (whole, part)
    parts = {}
    for part, name in enumerate(class_names):
        wholes = [w for w in range(len(class_names)) if w != part and sizes[w] > sizes[part] > 0]
        wholes = [w for w in wholes if overlap[w, part] >= PART_SHARE * sizes[part]]
        if wholes:
            parts[name] = class_names[min(wholes, key=lambda w: int(sizes[w]))]
    return parts


@torch.no_grad()
def replace_head(
    model: Bright4B, card: ModelCard, class_names: Sequence[str], parts: Mapping[str, str] | None = None
) -> ModelCard:
    """Give ``model`` a softmax segmentation head over ``class_names`` (in place) and return
    its card. A base that already has exactly that head keeps it. Otherwise the new head
    starts from the base head's channel of each class the base names too (a sigmoid logit is
    a softmax logit against a background logit of 0), the others from a fresh initialisation.

    Painted classes exclude each other where a sigmoid base's overlap: a voxel of a part
    (``parts``, from :func:`nested_parts`) is painted as the part, not as its whole. So a
    part's softmax logit starts as its own sigmoid logit plus its whole's (the head is
    linear): inside the whole it wins where its own logit is positive."""
    head = softmax_head(class_names)
    if card.head == head:
        return card
    weight = next(model.head.parameters())
    new = build_head(card.config, head).to(device=weight.device, dtype=weight.dtype)
    if card.head.task == "segment":
        old_state, state = model.head.state_dict(), new.state_dict()
        base_names, parts = card.head.class_names, parts or {}
        for target, name in enumerate(head.class_names):
            if name in base_names:
                sources = [base_names.index(name)]
                if parts.get(name) in head.class_names:
                    sources.append(base_names.index(parts[name]))
                for key in state:
                    state[key][target] = sum(old_state[key][source] for source in sources)
            elif name == "background":
                for key in state:
                    state[key][target] = 0
        new.load_state_dict(state)
    model.head, model.head_config = new, head
    return replace(card, head=head, thresholds={})


def set_mode(model: Bright4B, mode: str, rank: int = 4) -> None:
    """Choose what trains (see the module's docstring), in place; adapters of ``rank``."""
    if mode not in MODES:
        raise ValueError(f"fine-tuning mode must be one of {MODES}, got {mode!r}")
    model.requires_grad_(mode == "full")
    if mode == "full":
        return
    model.head.requires_grad_(True)
    model.decoder.decoder2.requires_grad_(True)
    if mode == "adapter":
        for block in model.blocks:
            for name in ATTENTION_PROJECTIONS:
                add_adapter(getattr(block.attention, name), "weight", rank)
            for name in EXPERT_WEIGHTS:
                add_adapter(block.moe, name, rank)


def trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A copy of every parameter that trains (the state a fine-tune can restore)."""
    return {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad}


@torch.no_grad()
def restore_trainable_state(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    for name, p in model.named_parameters():
        if name in state:
            p.copy_(state[name])
