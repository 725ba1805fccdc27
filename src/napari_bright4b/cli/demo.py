"""``bright4b demo``: simulate a brightfield colony, segment it with the bundled model, score it.

Writes into ``--out`` (default ``bright4b-demo``): the simulated image, probabilities,
masks and ground truth as TIFFs with the voxel size, and ``figure.png`` (z-slices with
predicted areas and dashed ground-truth outlines). The folder appears only when complete.
"""

from __future__ import annotations

import argparse
import json
import time

from ..errors import BadInputError
from .options import add_zyx, positive_int

DEMO_MODEL = "bright4b-nano-organelles"
DEMO_SEED = 20261122  # not among the training or held-out seeds
DEMO_SHAPE = (48, 256, 256)


def add_parsers(sub) -> None:
    parser = sub.add_parser("demo", help="segment a simulated brightfield colony with the bundled model and score it")
    parser.add_argument("--out", default="bright4b-demo", help="folder for the TIFFs and figure (bright4b-demo)")
    parser.add_argument("--model", default=DEMO_MODEL, help=f"model to run ({DEMO_MODEL})")
    parser.add_argument("--seed", type=int, default=DEMO_SEED, help="simulation seed")
    text = "simulated volume at the Allen voxel size (48 256 256)"
    add_zyx(parser, "--shape", positive_int, text, default=list(DEMO_SHAPE))
    parser.add_argument("--json", action="store_true", help="print results and timings as JSON")
    parser.set_defaults(run=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    from ..data.synthetic.brightfield import ALLEN_VOXEL_SIZE

    shape, timings = tuple(args.shape), {}
    card, sample, (probabilities, masks, scores) = _simulate_and_segment(args.model, shape, args.seed, timings)
    tick = time.perf_counter()
    _write_outputs(args.out, sample, probabilities, masks, card, args.seed)
    timings["write_s"] = time.perf_counter() - tick
    timings["total_s"] = time.perf_counter() - started
    result = {
        "model": card.name,
        "out": str(args.out),
        "shape": list(shape),
        "voxel_size_um": list(ALLEN_VOXEL_SIZE),
        "thresholds": {name: card.thresholds.get(name, "otsu") for name in card.head.class_names},
        "structures": {name: {k: round(float(v), 4) for k, v in s.items()} for name, s in scores.items()},
        "timings": {k: round(v, 2) for k, v in timings.items()},
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{card.name} on a simulated {'x'.join(map(str, shape))} brightfield colony")
    print(f"{'structure':<14}{'Dice':>8}{'HD95 um':>10}{'precision':>11}{'recall':>8}")
    for name, s in scores.items():
        print(f"{name:<14}{s['dice']:>8.3f}{s['hd95']:>10.2f}{s['precision']:>11.3f}{s['recall']:>8.3f}")
    print("seconds: " + ", ".join(f"{k[:-2]} {v:.1f}" for k, v in timings.items()))
    print(f"wrote {args.out}/: brightfield.tif probabilities.tif masks.tif ground_truth.tif figure.png")
    return 0


def _simulate_and_segment(model: str, shape: tuple[int, int, int], seed: int, timings: dict):
    """Load ``model`` (a segmentation model), simulate a ``shape`` (Z, Y, X) colony at the
    Allen voxel size and segment it: ``(card, sample, (probabilities, masks, scores))``.
    Records ``load_s``, ``simulate_s`` and ``segment_s`` (seconds) in ``timings``."""
    from ..data.synthetic.brightfield import ALLEN_VOXEL_SIZE, simulate_brightfield
    from ..models.registry import list_models
    from ..models.session import ModelSession
    from ..training.recipes.organelles import organelles_card, score_sample

    tick = time.perf_counter()
    if model == DEMO_MODEL and DEMO_MODEL not in {entry.name for entry in list_models()}:
        raise BadInputError(
            f"the bundled model {DEMO_MODEL} is not installed in this version; make it with "
            f"'{organelles_card('broad').provenance['command']}' and pass --model {DEMO_MODEL}.safetensors"
        )
    with ModelSession(model, "cpu", quiet=False) as session:
        card = session.card
        if card.head.task != "segment":
            raise BadInputError(f"the demo needs a segmentation model; {model} is a {card.head.task} model")
        timings["load_s"] = time.perf_counter() - tick
        tick = time.perf_counter()
        sample = simulate_brightfield(shape, ALLEN_VOXEL_SIZE, seed)
        timings["simulate_s"] = time.perf_counter() - tick
        tick = time.perf_counter()
        segmented = score_sample(session.model, card, sample)
    timings["segment_s"] = time.perf_counter() - tick
    return card, sample, segmented


def _write_outputs(out: str, sample, probabilities, masks, card, seed: int) -> None:
    """Write the image, probabilities, masks and ground truth (TIFFs with the voxel size) and
    ``figure.png`` (the :func:`_figure_slices`) into the folder ``out``, atomically."""
    from ..analysis.figures import overlay_figure
    from ..data.tiff import write_tiff
    from ..files import atomic_directory

    slices = _figure_slices(sample.colony.nuclei)
    with atomic_directory(out) as folder:
        voxel = sample.voxel_size
        write_tiff(folder / "brightfield.tif", sample.image, voxel)
        write_tiff(folder / "probabilities.tif", probabilities.astype("float32"), voxel)
        write_tiff(folder / "masks.tif", masks, voxel)
        write_tiff(folder / "ground_truth.tif", sample.masks(), voxel)
        overlay_figure(
            sample.image,
            masks,
            sample.masks(),
            card.head.class_names,
            folder / "figure.png",
            slices,
            title=f"{card.name} on a simulated brightfield colony (seed {seed})",
        )


def _figure_slices(nuclei) -> list[int]:
    """Three z indices for the figure: the nuclei's mean z (``nuclei`` is ``(Z, Y, X)``; the
    middle slice when there are none) and 8 slices either side, clipped to the volume."""
    depth = nuclei.shape[0]
    nuclei_z = nuclei.any(axis=(1, 2)).nonzero()[0]
    middle = int(nuclei_z.mean()) if nuclei_z.size else depth // 2
    return sorted({max(0, middle - 8), middle, min(depth - 1, middle + 8)})
