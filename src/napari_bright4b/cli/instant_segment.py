"""``bright4b segment IMAGE -m INSTANT.safetensors``: a saved instant classifier over a new image."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..data.io import read_image, write_image
from ..errors import BadInputError
from ..run_settings import provenance
from .progress import timings


def is_instant(spec: str) -> bool:
    """Whether the model ``spec`` is an instant classifier's file."""
    from ..training.finetune.instant import is_instant_model

    return is_instant_model(spec)


def run(args: argparse.Namespace, started: float) -> dict:
    """An instant classifier (``bright4b finetune --mode instant -o``) over a new image: its
    classes as painted values (0 = background) in ``-o``; returns the run's summary."""
    from ..training.finetune.instant import InstantModel

    if args.prob or args.instances:
        raise BadInputError("an instant classifier writes its classes only (-o); drop --prob and --instances")
    model = InstantModel.load(args.model)
    volume = read_image(args.image, args.channel, args.axes)
    if args.voxel_size or volume.voxel_size:
        voxel_size, source = list(args.voxel_size or volume.voxel_size), "--voxel-size" if args.voxel_size else "file"
    elif "voxel_size" in model.provenance:
        voxel_size, source = model.provenance["voxel_size"], "the strokes' image"
    else:
        raise BadInputError(f"{Path(args.image).name} records no voxel size; give it with --voxel-size Z Y X")
    labels, _ = model.segment(volume.data, voxel_size)
    made = provenance("segment", vars(args), Path(args.model).name, args.image)
    write_image(args.output, labels, voxel_size, labels=True, provenance=made)
    summary = {
        "command": "segment",
        "model": Path(args.model).name,
        "device": "cpu (an instant classifier; the base model's features run on the CPU)",
        "input": {"path": args.image, "shape": list(volume.data.shape), "voxel_size": voxel_size, "from": source},
        "classes": list(model.classes.names),
        "outputs": {"classes": args.output},
    }
    finished = time.perf_counter()
    summary.update(timings(started, started, finished, labels.size))
    return summary
