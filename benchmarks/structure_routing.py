"""Train the organelle recipe with the routing asked to follow structure (issue 22's experiment).

    OMP_NUM_THREADS=2 python benchmarks/structure_routing.py -o OUT.safetensors [--steps 1500]
        [--token-weight 0.5] [--routing-weight 0.5] [--centred] [--balance-weight 0.01]
        [--confidence 0.5] [--sharpen START END] [--router-context] [--recipe organelles-broad --init MODEL]
        [--resume]
    OMP_NUM_THREADS=2 python benchmarks/expert_specialization.py --model OUT.safetensors --json OUT.json

The ``organelles-classic`` recipe (or ``--recipe``, e.g. the bundled model's second stage
``organelles-broad`` from ``--init bright4b-nano-organelles-classic.safetensors``, at its learning
rate; :mod:`napari_bright4b.training.recipes`) with its task loss
wrapped in :class:`~napari_bright4b.training.structure_routing.StructureRouting` (through
:class:`~napari_bright4b.training.structure_routing.RoutingSupervision`, as recipes do: token and
routing probes against each token's structure shares) and, with ``--centred``, the model's
``centred_routing`` on, with ``--router-context`` its ``router_context`` (the routers also read
the decoder stem's features under each token); ``--balance-weight`` sets the Soft-MoE load term's weight and
``--confidence`` its term that sharpens each token's routing (``routing_confidence``),
ramped in from step START to END with ``--sharpen``. Then
per-class thresholds and the held-out Dice, as ``bright4b train`` does, written into OUT's
card; the routing statistics come from ``expert_specialization.py``. On our own simulator:
routing is a property of the model, and these are the colonies the bundled model is scored on.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import numpy as np
import torch

from napari_bright4b.models.checkpoint import build_model, load_backbone, load_checkpoint, save_checkpoint
from napari_bright4b.training.recipes import RECIPES
from napari_bright4b.training.structure_routing import ROUTING_WEIGHT, TOKEN_WEIGHT, RoutingSupervision
from napari_bright4b.training.trainer import TrainSettings, task_loss, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-o", "--output", required=True, help="the model to write (.safetensors)")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--token-weight", type=float, default=TOKEN_WEIGHT)
    parser.add_argument("--routing-weight", type=float, default=ROUTING_WEIGHT)
    parser.add_argument("--centred", action="store_true", help="route tokens by their difference from the mean")
    parser.add_argument("--router-context", action="store_true", help="routers also read the stem under each token")
    parser.add_argument("--balance-weight", type=float, help="the load term's weight (default: the recipe's)")
    parser.add_argument("--confidence", type=float, help="the sharpness term's weight (default: the recipe's)")
    parser.add_argument("--sharpen", type=int, nargs=2, metavar=("START", "END"), help="ramp the confidence term in")
    parser.add_argument("--recipe", default="organelles-classic", choices=["organelles-classic", "organelles-broad"])
    parser.add_argument("--init", help="start from this model (the recipe's starts_from)")
    parser.add_argument("--resume", action="store_true", help="go on from OUT and its training state")
    args = parser.parse_args()
    recipe = RECIPES[args.recipe]
    card = recipe.card()
    balance = card.config.balance_weight if args.balance_weight is None else args.balance_weight
    confidence = card.config.routing_confidence if args.confidence is None else args.confidence
    config = dataclasses.replace(
        card.config,
        centred_routing=args.centred or card.config.centred_routing,  # the flags add to the recipe's routing
        router_context=args.router_context or card.config.router_context,
        balance_weight=balance,
        routing_confidence=confidence,
    )
    card = dataclasses.replace(card, config=config)
    torch.manual_seed(0)
    model = build_model(card)
    if args.resume:  # the weights the state goes with: OUT, as written at its last checkpoint
        model.load_state_dict(load_checkpoint(args.output)[0].state_dict())
    elif args.init:
        load_backbone(model, card, args.init)
    sampler = recipe.sampler(recipe.examples(recipe.train_seeds), np.random.default_rng(0))
    supervision = RoutingSupervision(args.token_weight, args.routing_weight, args.sharpen)
    loss = supervision.loss(model, task_loss(card), card.head.channels)
    settings = TrainSettings(steps=args.steps, learning_rate=recipe.learning_rate)
    started = time.perf_counter()
    result = train(model, card, sampler, settings, args.output, loss=loss, resume=args.resume)
    loss.remove()
    model.eval()
    card = load_checkpoint(args.output)[1]  # with the provenance training wrote
    card = dataclasses.replace(card, thresholds=recipe.calibrate(model, card))
    held_out = recipe.evaluate(model, card, recipe.held_out_seeds)
    save_checkpoint(model, dataclasses.replace(card, metrics=held_out), args.output)
    seconds = round(time.perf_counter() - started, 1)
    print(json.dumps({"steps": result.steps, "seconds": seconds, "held_out": held_out}, indent=1))


if __name__ == "__main__":
    main()
