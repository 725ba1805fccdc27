"""Few-shot fine-tuning from painted strokes against a random forest on the same strokes.

    OMP_NUM_THREADS=2 python benchmarks/fewshot.py --json OUT.json [--budget 60] [--mode full|adapter|head]

On simulated brightfield colonies the bundled organelle model never saw (seeds 7000-7004,
imaged at (0.27, 0.12, 0.12) um on a 40x224x224 grid, where training used seeds
1000-1047 at the Allen voxel size on 40x256x256), a simulated person
(:mod:`napari_bright4b.training.finetune.strokes`) paints background, nuclei, nucleoli and
mitochondria on 3 z-slices each. Then, on the same strokes:

- ``after``: ``bright4b-nano-organelles`` fine-tuned by :func:`~napari_bright4b.training.finetune.finetune`
  within ``--budget`` seconds, scored by its most probable class;
- ``rf``: what ilastik or convpaint users get: a random forest (100 trees, depth 16) on
  scikit-image multiscale features (sigma 1-8 voxels) of the image at the model's voxel
  size, trained on every painted voxel, scored by its most probable class;
- ``before``: the bundled model as it ships, cut by its card's thresholds (Otsu where it
  has none), as ``bright4b segment`` cuts by default.

Dice over the whole volume at the simulation's grid against the ground truth. Nucleoli lie
inside nuclei, so a voxel of the nucleolus class counts as nucleus too (the bundled
model's nuclei masks include nucleoli as well). Prints a table and writes JSON
``{"structures": {name: {"before", "after", "rf", "seconds"}}, "volumes": [...], ...}``
with means over the volumes (``seconds``: the fine-tune's, preparation included).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _common import environment, write_json
from baselines import forest_features

from napari_bright4b.analysis.metrics import overlap_metrics
from napari_bright4b.api import load_model
from napari_bright4b.data.synthetic.brightfield import STRUCTURES, simulate_brightfield
from napari_bright4b.inference.postprocess import class_thresholds, masks
from napari_bright4b.inference.predict import run_model
from napari_bright4b.inference.resample import resize
from napari_bright4b.training.finetune import FinetuneSettings, finetune, predict_painted
from napari_bright4b.training.finetune.adaptation import MODES
from napari_bright4b.training.finetune.painted import painted_classes, painted_data
from napari_bright4b.training.finetune.strokes import paint_strokes

BASE = "bright4b-nano-organelles"
SEEDS = (7000, 7001, 7002, 7003, 7004)
SHAPE = (40, 224, 224)
VOXEL_SIZE = (0.27, 0.12, 0.12)
NAMES = {2: "nuclei", 3: "nucleoli", 4: "mitochondria"}  # painted value -> structure
CONTAINS = {"nuclei": ("nuclei", "nucleoli")}  # a structure's mask: the union of these classes


def class_map(sample) -> np.ndarray:
    """Exclusive classes ``(Z, Y, X)``: 0 background, 1 nuclei, 2 nucleoli, 3 mitochondria
    (nucleoli drawn over the nuclei that hold them)."""
    colony = sample.colony
    truth = np.zeros(colony.nuclei.shape, np.uint8)
    truth[colony.nuclei > 0] = 1
    truth[colony.mitochondria] = 3
    truth[colony.nucleoli] = 2
    return truth


def dice_per_structure(painted: np.ndarray, sample) -> dict[str, float]:
    """Dice of painted-value predictions ``(Z, Y, X)`` against the sample's true masks."""
    value = {name: v for v, name in NAMES.items()}
    truth = sample.masks()
    return {
        name: round(
            overlap_metrics(np.isin(painted, [value[n] for n in CONTAINS.get(name, (name,))]), truth[k] > 0)["dice"], 4
        )
        for k, name in enumerate(STRUCTURES)
    }


def before(sample) -> dict[str, float]:
    model, card = load_model(BASE)
    probabilities = run_model(model, card, sample.image[None], sample.voxel_size)
    found, _ = masks(probabilities, class_thresholds("model", card.head.class_names, card.thresholds))
    truth = sample.masks()
    return {name: round(overlap_metrics(found[k] > 0, truth[k] > 0)["dice"], 4) for k, name in enumerate(STRUCTURES)}


def forest(sample, labels: np.ndarray, threads: int) -> tuple[np.ndarray, float]:
    """The random forest's painted-value prediction on the sample's grid, and its seconds."""
    from sklearn.ensemble import RandomForestClassifier

    start = time.perf_counter()
    _, card = load_model(BASE)
    classes = painted_classes(labels, NAMES)
    data = painted_data(sample.image[None], sample.voxel_size, labels, classes, card, 0.0, np.random.default_rng(0))
    features = forest_features(data.image[0]).reshape(data.image[0].size, -1)
    codes = data.train.ravel()
    rf = RandomForestClassifier(n_estimators=100, max_depth=16, n_jobs=threads, random_state=0)
    rf.fit(features[codes > 0], codes[codes > 0] - 1)
    probabilities = rf.predict_proba(features).T.reshape(-1, *data.image.shape[1:]).astype(np.float32)
    on_input = resize(probabilities, sample.image.shape)
    return classes.to_painted(rf.classes_[on_input.argmax(0)]), time.perf_counter() - start


def one_volume(seed: int, settings: FinetuneSettings, threads: int, folder: Path) -> dict:
    sample = simulate_brightfield(SHAPE, VOXEL_SIZE, seed)
    labels = paint_strokes(class_map(sample), np.random.default_rng(seed))
    result = finetune(
        sample.image[None],
        sample.voxel_size,
        labels,
        BASE,
        names=NAMES,
        settings=settings,
        out=folder / f"{seed}.safetensors",
    )
    after = dice_per_structure(predict_painted(result, sample.image[None], sample.voxel_size).labels, sample)
    rf_labels, rf_seconds = forest(sample, labels, threads)
    return {
        "seed": seed,
        "painted_voxels": result.classes.painted_voxels(),
        "before": before(sample),
        "after": after,
        "rf": dice_per_structure(rf_labels, sample),
        "seconds": round(result.seconds, 1),
        "rf_seconds": round(rf_seconds, 1),
        "steps": result.steps,
        "best_step": result.best_step,
        "held_out": {"loss": round(result.best.loss, 4), "balanced_accuracy": round(result.best.balanced_accuracy, 4)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--budget", type=float, default=60.0, help="fine-tuning seconds per volume (60)")
    parser.add_argument("--mode", default=FinetuneSettings.mode, choices=MODES, help="(the product default)")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    settings = FinetuneSettings(mode=args.mode, time_budget_s=args.budget)
    with tempfile.TemporaryDirectory() as folder:
        volumes = [one_volume(seed, settings, args.threads, Path(folder)) for seed in args.seeds]
    structures = {
        name: {key: round(float(np.mean([v[key][name] for v in volumes])), 4) for key in ("before", "after", "rf")}
        | {"seconds": round(float(np.mean([v["seconds"] for v in volumes])), 1)}
        for name in STRUCTURES
    }
    print(f"{'structure':<14}{'before':>8}{'after':>8}{'rf':>8}{'after-rf':>10}")
    for name, s in structures.items():
        print(f"{name:<14}{s['before']:>8.3f}{s['after']:>8.3f}{s['rf']:>8.3f}{s['after'] - s['rf']:>+10.3f}")
    write_json(
        args.json,
        {
            "structures": structures,
            "volumes": volumes,
            "base": BASE,
            "simulation": {"seeds": args.seeds, "shape": SHAPE, "voxel_size": VOXEL_SIZE},
            "settings": {"mode": args.mode, "time_budget_s": args.budget},
            "environment": environment(args.threads),
        },
    )


if __name__ == "__main__":
    main()
