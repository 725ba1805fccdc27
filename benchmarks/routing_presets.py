"""Does the balancing loss let the bigger presets' experts specialize? A short training run.

    OMP_NUM_THREADS=2 python benchmarks/routing_presets.py --json OUT.json [--presets small base] [--steps 60]

For each preset, a fresh backbone with the organelle recipe's head, voxel size and tile,
and the bundled organelle model's routing (its routing settings and decoder stem, so the
routers read the stem, and its routing supervision, the confidence ramp scaled to the
run), is trained for ``--steps`` steps on the recipe's simulated colonies (our own
simulator) by the project's trainer with the Soft-MoE balancing loss (``nn/soft_moe.py``). The routing
statistics of :mod:`expert_specialization` (per layer: routing entropy, smallest expert's
load, the bits between dominant expert and structure, the largest nuclei-to-outside usage
ratio) are measured on one held-out colony before and after, to show that the statistics
move under the loss: not a trained model, a short run. Prints a table, writes JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
import torch
from _common import environment, write_json
from expert_specialization import routing_statistics

from napari_bright4b.models.checkpoint import build_model
from napari_bright4b.models.config import ROUTING_SETTINGS, total_parameters
from napari_bright4b.models.presets import PRESETS
from napari_bright4b.training.recipes.catalog import RECIPES
from napari_bright4b.training.trainer import TrainSettings, train

TRAIN_SEEDS = (1000, 1001, 1002, 1003)
HELD_OUT = (9000,)
ROUTED = RECIPES["organelles-broad"]  # where the bundled organelle model learned its routing


def preset_card(preset: str):
    """The organelle recipe's card with ``preset``'s backbone routed as the bundled organelle
    model, one view per tile (a quick look)."""
    card, routed = RECIPES["organelles-classic"].card(), ROUTED.card().config
    routing = {name: getattr(routed, name) for name in ROUTING_SETTINGS}
    config = dataclasses.replace(PRESETS[preset].config, decoder_stem=routed.decoder_stem, **routing)
    return dataclasses.replace(card, name=f"{preset}-organelles", config=config, views=1)


def short_run(preset: str, steps: int, examples, seed: int = 0) -> dict:
    """Routing statistics of a fresh ``preset`` model before and after ``steps`` training steps."""
    recipe, card = RECIPES["organelles-classic"], preset_card(preset)
    torch.manual_seed(seed)
    model = build_model(card)
    before = routing_statistics(model.eval(), card, HELD_OUT)
    sampler = recipe.sampler(examples, np.random.default_rng(seed))
    settings = TrainSettings(steps=steps, batch_size=2, learning_rate=5e-4, warmup=max(1, steps // 10), seed=seed)
    start = time.perf_counter()
    loss = ROUTED.routing_loss(model, card, steps)
    result = train(model.train(), card, sampler, settings, None, loss=loss)
    seconds = time.perf_counter() - start
    if loss is not None:
        loss.remove()
    after = routing_statistics(model.eval(), card, HELD_OUT)
    return {
        "parameters": total_parameters(card.config, card.head),
        "steps": result.steps,
        "train_seconds": round(seconds, 1),
        "first_loss": result.losses[0][1],
        "last_loss": result.losses[-1][1],
        "before": before,
        "after": after,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=["small", "base"], choices=sorted(PRESETS))
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    examples = RECIPES["organelles-classic"].examples(TRAIN_SEEDS)
    results = {}
    for preset in args.presets:
        results[preset] = run = short_run(preset, args.steps, examples)
        print(f"{preset}: {run['parameters']:,} parameters, {run['steps']} steps in {run['train_seconds']} s")
        print(f"{'layer':>6}{'entropy':>16}{'min load':>16}{'MI bits':>16}{'nuc/out':>16}   (before -> after)")
        for old, new in zip(run["before"], run["after"]):
            cells = [f"{old[k]:.3f} -> {new[k]:.3f}" for k in ("entropy", "min_load", "mutual_information_bits")]
            cells.append(f"{old['nuclei_vs_outside']:.2f} -> {new['nuclei_vs_outside']:.2f}")
            print(f"{old['layer']:>6}" + "".join(f"{c:>16}" for c in cells))
    if args.json:
        write_json(args.json, {"environment": environment(args.threads), "held_out": list(HELD_OUT), **results})


if __name__ == "__main__":
    main()
