"""Do the experts specialize? Routing statistics of an organelle model on its held-out colonies.

    OMP_NUM_THREADS=2 python benchmarks/expert_specialization.py --json OUT.json [--model M ...]

For each model (default: ``bright4b-nano-organelles``), over the held-out colonies of its
recipe (seeds 9000-9002, on our own simulator: routing is a property of the model, and
these are the colonies its accuracy is scored on), per transformer layer:

- ``entropy``: the mean per-token routing entropy over the slots, normalized to [0, 1];
- ``min_load``: the smallest expert's share of the aggregate combine weight;
- ``mutual_information_bits``: between a token's dominant expert and its structure
  (outside, cytoplasm, nuclei, nucleoli, mitochondria; :mod:`analysis.structure_usage`);
- ``nuclei_vs_outside``: the largest ratio, over experts, of an expert's usage on nuclei
  tokens to its usage on outside tokens (either way round);

and the held-out Dice per structure (:func:`~napari_bright4b.training.recipes.organelles.evaluate_organelles`).
The issue-22 targets: entropy < 0.8 in at least two layers, min_load >= 0.10 everywhere,
MI >= 0.1 bits in at least one layer, a ratio >= 2 in at least one layer, Dice within
0.02 of the earlier model. Prints a table, writes JSON.
"""

from __future__ import annotations

import numpy as np
from _common import environment, model_comparison_args, write_json

from napari_bright4b.analysis.inspection import Inspection, inspect_volume
from napari_bright4b.analysis.structure_usage import structure_usage, token_structures
from napari_bright4b.api import load_model
from napari_bright4b.data.synthetic.brightfield import ALLEN_VOXEL_SIZE, simulate_brightfield
from napari_bright4b.data.synthetic.colony import STRUCTURES, structure_map
from napari_bright4b.training.recipes.organelles import HELD_OUT_SEEDS, SIMULATED_SHAPE, evaluate_organelles


def routing_statistics(model, card, seeds) -> list[dict]:
    """Per layer, the statistics above pooled over the colonies of ``seeds``."""
    entropy, usage, tokens = [], [], []
    for seed in seeds:
        sample = simulate_brightfield(SIMULATED_SHAPE, ALLEN_VOXEL_SIZE, seed)
        inspection = inspect_volume(model, card, sample.image[None], sample.voxel_size, pca_layers=[])
        entropy.append(inspection.entropy.reshape(inspection.layers, -1))
        usage.append(inspection.usage.reshape(inspection.layers, inspection.experts, -1))
        tokens.append(token_structures(structure_map(sample.colony), inspection.grid, len(STRUCTURES)).ravel())
    entropy, usage, tokens = np.concatenate(entropy, -1), np.concatenate(usage, -1), np.concatenate(tokens)
    pooled = Inspection(card.name, inspection.grid, entropy, usage, None, {}, 0, 0.0, "cpu")
    by_structure = structure_usage(pooled, tokens, STRUCTURES)
    rows = []
    for layer, report in enumerate(by_structure["layers"]):
        nuclei, outside = np.array(report["usage"]["nuclei"]), np.array(report["usage"]["outside"])
        ratio = np.maximum(nuclei / np.maximum(outside, 1e-6), outside / np.maximum(nuclei, 1e-6))
        rows.append(
            {
                "layer": layer + 1,
                "entropy": round(float(entropy[layer].mean()), 4),
                "min_load": round(float(usage[layer].mean(-1).min()), 4),
                "mutual_information_bits": report["mutual_information_bits"],
                "nuclei_vs_outside": round(float(ratio.max()), 3),
                "usage": report["usage"],
            }
        )
    return rows


def main() -> None:
    args = model_comparison_args(__doc__, "bright4b-nano-organelles")
    results = {}
    for name in args.model:
        model, card = load_model(name)
        held_out = evaluate_organelles(model, card, HELD_OUT_SEEDS)
        results[name] = {"layers": routing_statistics(model, card, HELD_OUT_SEEDS), "held_out": held_out}
        print(f"{name}: held-out {held_out}")
        print(f"{'layer':>6}{'entropy':>10}{'min load':>10}{'MI bits':>10}{'nuc/out':>10}")
        for row in results[name]["layers"]:
            print(
                f"{row['layer']:>6}{row['entropy']:>10.3f}{row['min_load']:>10.3f}"
                f"{row['mutual_information_bits']:>10.3f}{row['nuclei_vs_outside']:>10.2f}"
            )
    if args.json:
        write_json(args.json, {"environment": environment(args.threads), "seeds": list(HELD_OUT_SEEDS), **results})


if __name__ == "__main__":
    main()
