"""Which filter-bank family instant mode should use, judged over several stroke seeds.

One painted stroke set is a noisy judge (the forest's nucleoli Dice in the low-NA case
ranges 0.30-0.44 over three seeds), so every feature family and the random forest are
scored on the same strokes from ``--seeds`` and averaged (with, for the default family, the
base classes each stroke set kept: ``agreements``). Families, each beside the base
model's own features (``bright4b-nano-organelles``): ``micrometre`` (the bank with scales
in um and the raw intensity), ``voxel`` (scikit-image's multiscale basic features at 1-8
voxels: what instant mode computes by default) and ``both`` (``--micrometre-bank``). Cases
from ``fewshot_external``: real CHO nuclei and off-domain simulations, none from the base's
training simulator.

    python benchmarks/instant_features.py --cases cho-02-t00 sim-low-na-low-light --json out.json
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import numpy as np
import torch
from _common import environment, write_json
from external_data import external_volumes, shifted_simulations
from fewshot_external import BASE, dice, forest, names

from napari_bright4b.api import load_model
from napari_bright4b.features.filter_bank import PER_VOXEL_SCALE
from napari_bright4b.features.voxel_features import FeatureSpec, compute_features
from napari_bright4b.training.finetune.instant import InstantModel, InstantSettings
from napari_bright4b.training.finetune.painted import painted_classes
from napari_bright4b.training.finetune.strokes import paint_strokes


def family(features, keep: str):
    """``features`` (both families) cut down to one family (``micrometre`` or ``voxel``) or kept."""
    voxel = {n for n in features.names if n.startswith(tuple(PER_VOXEL_SCALE))}
    micrometre = {n for n in features.names if n == "intensity" or n.endswith(" um")}
    drop = {"micrometre": voxel, "voxel": micrometre, "both": set()}[keep]
    columns = [i for i, n in enumerate(features.names) if n not in drop]
    return replace(features, array=features.array[..., columns], names=tuple(features.names[i] for i in columns))


def mean(scores: list[dict]) -> dict:
    return {k: round(float(np.mean([s[k] for s in scores])), 4) for k in scores[0]}


def one_case(volume, model, seeds, threads: int) -> dict:
    features = compute_features(volume.image[None], volume.voxel_size, FeatureSpec(base=BASE, micrometre=True), model)
    strokes = [paint_strokes(volume.truth, np.random.default_rng(seed)) for seed in seeds]
    row = {"name": volume.name, "seeds": list(seeds), "rf": [dice(forest(volume, s, threads), volume) for s in strokes]}
    for keep in ("micrometre", "voxel", "both"):
        chosen, row[keep] = family(features, keep), []
        for labels in strokes:
            classes = painted_classes(labels, names(volume))
            fitted = InstantModel.fit(chosen, classes.codes(labels), classes, InstantSettings(threads=threads))
            row[keep].append(dice(fitted.predict(chosen)[0], volume))
            if keep == "voxel":  # the default family: which base classes the strokes kept
                row.setdefault("agreements", []).append([a.report() for a in fitted.agreements])
    row["mean"] = {key: mean(row[key]) for key in ("rf", "micrometre", "voxel", "both")}
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--cases", nargs="*", help="case names (default: all)")
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = load_model(BASE)
    payload = {"base": BASE, "environment": environment(args.threads), "cases": []}
    print(f"{'case':<22}{'class':<14}{'rf':>8}{'micrometre':>12}{'voxel':>8}{'both':>8}")
    for volume in external_volumes() + shifted_simulations():
        if args.cases and volume.name not in args.cases:
            continue
        row = one_case(volume, model, args.seeds, args.threads)
        payload["cases"].append(row)
        for name in row["mean"]["rf"]:
            figures = "".join(
                f"{row['mean'][k][name]:>{w}.3f}" for k, w in (("rf", 8), ("micrometre", 12), ("voxel", 8), ("both", 8))
            )
            print(f"{volume.name:<22}{name:<14}{figures}", flush=True)
        write_json(args.json, payload)


if __name__ == "__main__":
    main()
