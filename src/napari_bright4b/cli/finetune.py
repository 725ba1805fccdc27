"""``bright4b finetune IMAGE LABELS -m BASE [-o OUT.safetensors]``: fine-tune a segmentation model
on strokes painted over the image (0 = not painted, 1 = background, 2.. = classes), then
``bright4b segment -m OUT.safetensors`` uses it (:mod:`..training.finetune`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..data.io import check_output_path, read_image, write_image
from ..errors import BadInputError
from ..training.finetune.modes import CLASSIFIERS, DEFAULT_MODE, MODES
from .inputs import check_channels, voxel_size_of
from .options import add_axes, add_settings, add_voxel_size, positive_float, positive_int, safetensors_output

HELP = "fine-tune a segmentation model on strokes painted in a labels image"


def add_parsers(sub) -> None:
    parser = sub.add_parser("finetune", help=HELP, description=HELP)
    parser.add_argument("image", help="input TIFF/OME-TIFF or OME-Zarr, (C,)Z,Y,X")
    parser.add_argument(
        "labels", help="painted labels of the image's shape: 0 = not painted, 1 = background, 2.. = classes"
    )
    parser.add_argument("-m", "--model", help="the base model: registry name or .safetensors path")
    parser.add_argument(
        "-o", "--output", help="the fine-tuned model (.safetensors; default: a new file in the user's model folder)"
    )
    parser.add_argument("--classes", help="names of label values 2, 3, ... (comma-separated; default: the base's)")
    parser.add_argument(
        "--mode",
        choices=MODES,
        default=DEFAULT_MODE,
        help="instant: a classifier on the image's filter-bank and model features, fitted in seconds; "
        f"head, adapter, full: what of the network trains ({DEFAULT_MODE})",
    )
    parser.add_argument(
        "--prediction", help="instant mode: write the predicted classes here (TIFF/OME-Zarr, painted values)"
    )
    parser.add_argument("--classifier", choices=CLASSIFIERS, help="instant mode's classifier (forest)")
    parser.add_argument(
        "--no-model-features", action="store_true", help="instant mode: the filter bank alone, not the model's features"
    )
    parser.add_argument(
        "--micrometre-bank",
        action="store_true",
        help="instant mode: add the filter bank with scales in micrometres (for a z-step coarse beside the objects)",
    )
    parser.add_argument(
        "--teacher",
        action="store_true",
        help="deep modes: also train on the instant classifier's sure voxels (docs/finetune.md)",
    )
    parser.add_argument(
        "--time-budget", type=positive_float, help="seconds for the whole fine-tune (60 without --steps)"
    )
    parser.add_argument(
        "--adapt",
        type=positive_float,
        metavar="SECONDS",
        help="deep modes: first learn the whole image, unlabeled, by masked reconstruction for SECONDS "
        "(before the time budget starts)",
    )
    parser.add_argument("--steps", type=positive_int, help="optimizer steps (with a time budget: whichever ends first)")
    parser.add_argument("--channel", type=int, help="channel to use from a multi-channel image (0-based)")
    add_voxel_size(parser)
    add_axes(parser)
    add_settings(parser)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (auto)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (0)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(run=run_finetune)


def class_names(text: str | None) -> dict[int, str]:
    """``"a,b"`` -> ``{2: "a", 3: "b"}`` (painted values 2, 3, ...)."""
    if not text:
        return {}
    names = [name.strip() for name in text.split(",")]
    if not all(names) or len(set(names)) != len(names):
        raise BadInputError(f"--classes needs distinct, non-empty names, got {text!r}")
    return {value: name for value, name in enumerate(names, start=2)}


def run_finetune(args: argparse.Namespace) -> int:
    _check_arguments(args)
    names = class_names(args.classes)
    check_mode_options(args)
    if args.mode == "instant":
        return run_instant(args, names)

    from ..models.device import resolve_device
    from ..training.finetune import FinetuneSettings, finetune
    from ..training.finetune.painted import check_labels

    budget = args.time_budget if args.time_budget or args.steps else FinetuneSettings.time_budget_s
    settings = FinetuneSettings(
        mode=args.mode,
        time_budget_s=budget,
        steps=args.steps,
        seed=args.seed,
        teacher=args.teacher,
        adapt_s=args.adapt or 0.0,
    )
    image, labels = read_painted(args)
    check_labels(labels.shape, image.data.shape[1:])
    voxel_size = model_voxel_size(args, image)
    choice = resolve_device(args.device)
    if choice.note:
        print(f"bright4b: note: {choice.note}", file=sys.stderr)
    bar = _Bar(settings, enabled=not args.json and sys.stderr.isatty())
    result = finetune(
        image.data,
        voxel_size,
        labels,
        args.model,
        names=names,
        settings=settings,
        out=args.output,
        device=args.device,
        progress=bar,
    )
    bar.close()
    summary = {
        "model": str(result.path),
        "base": result.card.provenance["base_model"],
        "mode": settings.mode,
        "classes": list(result.card.head.class_names),
        "painted_voxels": result.classes.painted_voxels(),
        "steps": result.steps,
        "best_step": result.best_step,
        "held_out": {"loss": round(result.best.loss, 4), "balanced_accuracy": round(result.best.balanced_accuracy, 4)},
        "scored_on": result.card.provenance["scored_on"],
        "seconds": round(result.seconds, 1),
        "device": str(choice.device),
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        _print_finetuned(summary, result)
    return 0


def _check_arguments(args: argparse.Namespace) -> None:
    """Refuse a missing base model, a negative ``--channel`` and outputs that overwrite an input
    or each other."""
    if not args.model:
        raise BadInputError("finetune needs a base model: -m NAME (or a --settings file that names one)")
    if args.channel is not None and args.channel < 0:
        raise BadInputError(f"--channel must be 0 or more, got {args.channel}")
    inputs = (Path(args.image).resolve(), Path(args.labels).resolve())
    outputs = [Path(p).resolve() for p in (args.output, args.prediction) if p is not None]
    if any(p in inputs for p in outputs):
        raise BadInputError("an output is an input file; choose another name (inputs are never overwritten)")
    if len(set(outputs)) != len(outputs):
        raise BadInputError("-o and --prediction name the same file; give each its own")


def read_painted(args: argparse.Namespace):
    """``(image, labels)``: the image (its ``data`` is ``(C, Z, Y, X)``) and the painted labels
    ``(Z, Y, X)``, refused unless they have one channel."""
    image = read_image(args.image, args.channel, args.axes)
    labels = read_image(args.labels).data
    if labels.shape[0] != 1:
        raise BadInputError(f"{Path(args.labels).name}: labels must have one channel, got {labels.shape[0]}")
    return image, labels[0]


def model_voxel_size(args: argparse.Namespace, image) -> list[float]:
    """The voxel size (z, y, x) um to fine-tune at, after checking that the base model reads the
    image's channels (see :func:`.inputs.voxel_size_of`)."""
    from ..models.registry import resolve

    card = resolve(args.model, allow_presets=False).card
    check_channels(image, card, Path(args.image).name)
    return voxel_size_of(args, image, card)[0]


def _print_finetuned(summary: dict, result) -> None:
    """A few lines on a deep fine-tune: the new model, its classes, agreements and best step."""
    print(
        f"finetune: {summary['base']} -> {summary['model']} ({summary['mode']}, {result.steps} steps, "
        f"{summary['seconds']} s)"
    )
    print(f"  classes      {', '.join(summary['classes'])}")
    for agreement in result.model.agreements:
        print(f"  {agreement.name:<12} {agreement.describe()}")
    print(
        f"  best step    {result.best_step}: held-out balanced accuracy {result.best.balanced_accuracy:.3f} "
        f"on {summary['scored_on']}"
    )
    print(f"  use it       bright4b segment IMAGE -m {result.path} -o OUT.tif")


INSTANT_OPTIONS = {
    "prediction": "--prediction",
    "classifier": "--classifier",
    "no_model_features": "--no-model-features",
    "micrometre_bank": "--micrometre-bank",
}
DEEP_OPTIONS = {"teacher": "--teacher", "steps": "--steps", "time_budget": "--time-budget", "adapt": "--adapt"}


def check_mode_options(args: argparse.Namespace) -> None:
    """Refuse an option the chosen mode would ignore."""
    instant = args.mode == "instant"
    for key, flag in (DEEP_OPTIONS if instant else INSTANT_OPTIONS).items():
        if getattr(args, key):
            wanted = "a deep mode (--mode full, adapter or head)" if instant else "--mode instant"
            raise BadInputError(f"{flag} is for {wanted}; the {args.mode} mode would ignore it")


def run_instant(args: argparse.Namespace, names: dict[int, str]) -> int:
    """``--mode instant``: fit on the strokes, predict every voxel, save the classifier and/or
    the prediction."""
    if args.output is None and args.prediction is None:
        raise BadInputError("instant mode needs -o MODEL.safetensors, --prediction LABELS.tif or both")
    if args.output is not None:
        safetensors_output(args.output, "the instant model")
    if args.prediction is not None:
        check_output_path(args.prediction)

    from ..training.finetune.instant import InstantSettings, instant_segment

    image, labels = read_painted(args)
    voxel_size = model_voxel_size(args, image)
    settings = InstantSettings(classifier=args.classifier or "forest", seed=args.seed)
    base = None if args.no_model_features else args.model
    result = instant_segment(
        image.data, voxel_size, labels, base, names=names, settings=settings, micrometre=args.micrometre_bank
    )
    if args.output is not None:
        result.model.save(args.output)
    if args.prediction is not None:
        write_image(args.prediction, result.labels, voxel_size)
    summary = {
        "mode": "instant",
        "model": args.output,
        "prediction": args.prediction,
        "base": base,
        "classifier": settings.classifier,
        "classes": list(result.model.classes.names),
        "painted_voxels": result.model.classes.painted_voxels(),
        "features": len(result.features.names),
        "base_agreement": [a.report() for a in result.model.agreements],
        "seconds": result.seconds,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        took = ", ".join(f"{k} {v} s" for k, v in result.seconds.items())
        print(f"finetune: instant {settings.classifier} on {summary['features']} features ({took})")
        print(f"  classes      {', '.join(summary['classes'])}")
        for agreement in result.model.agreements:
            print(f"  {agreement.name:<12} {agreement.describe()}")
        for key in ("model", "prediction"):
            if summary[key]:
                print(f"  {key:<12} {summary[key]}")
    return 0


class _Bar:
    """A tqdm bar over the steps (or the budget's seconds) with the loss, on stderr."""

    def __init__(self, settings, enabled: bool):
        self.bar = None
        if enabled:
            from tqdm import tqdm

            by_steps = settings.time_budget_s is None
            total = settings.steps if by_steps else round(settings.time_budget_s)
            self.bar = tqdm(total=total, desc="fine-tuning", unit="step" if by_steps else "s", file=sys.stderr)
            self.by_steps = by_steps

    def __call__(self, report) -> None:
        if self.bar is None:
            return
        done = report.step if self.by_steps else min(self.bar.total, int(report.seconds))
        self.bar.update(done - self.bar.n)
        self.bar.set_postfix(step=report.step, loss=f"{report.loss:.3f}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
