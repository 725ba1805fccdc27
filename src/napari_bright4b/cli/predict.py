"""``bright4b segment``, ``deblur`` and ``classify``: run a model over a whole volume.

Everything that can be checked is checked before the model runs (paths, options, the
image, the model and its task), and outputs appear only when complete.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from contextlib import nullcontext
from pathlib import Path

from ..data.io import check_output_path, image_output, read_image, write_image
from ..errors import BadInputError
from ..models.card import VIEW_COUNTS
from ..run_settings import provenance
from . import batch, deconvolve, instant_segment
from .inputs import check_channels, voxel_size_of
from .options import add_axes, add_settings, add_voxel_size, overlap_fraction, positive_float, positive_int
from .progress import TileProgress, report, timings

TASK_HELP = {
    "segment": "segment structures: probabilities, masks or instance labels",
    "deblur": "deblur a (light-sheet) volume",
    "classify": "classify a volume (e.g. light-sheet stain type); optionally a per-tile class map",
}


def add_parsers(sub) -> None:
    for task, help_text in TASK_HELP.items():
        parser = sub.add_parser(task, help=help_text, description=help_text)
        parser.add_argument(
            "image",
            nargs="+",
            help="input TIFF/OME-TIFF or OME-Zarr, (C,)Z,Y,X; several inputs, folders or globs run one after "
            "another, each output named from its input in the -o folder, with results.csv",
        )
        parser.add_argument("-m", "--model", help="registry name, .safetensors path or preset")
        output_help = {"segment": "masks (or instance labels)", "deblur": "deblurred image"}
        if task in output_help:
            parser.add_argument(
                "-o", "--output", required=True, help=f"{output_help[task]}: .tif or .zarr (several inputs: a folder)"
            )
        parser.add_argument("--channel", type=int, help="channel to use from a multi-channel image (0-based)")
        add_voxel_size(parser)
        add_axes(parser)
        add_settings(parser)
        parser.add_argument("--tile", nargs=3, type=positive_int, metavar=("Z", "Y", "X"), help="tile size (voxels)")
        parser.add_argument("--overlap", type=overlap_fraction, default=0.25, help="tile overlap fraction (0.25)")
        parser.add_argument(
            "--views",
            type=int,
            choices=VIEW_COUNTS,
            help="average each tile over this many y-x mirrors/turns (default: the model's; each costs one pass)",
        )
        parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (auto)")
        parser.add_argument("--batch-size", type=positive_int, help="tiles per batch (default: from free memory)")
        parser.add_argument("--json", action="store_true", help="print results and timings as JSON")
        if task == "segment":
            parser.add_argument("--prob", help="also write per-class probabilities here (.tif or .zarr)")
            parser.add_argument(
                "--threshold",
                default="model",
                help="'model' (default: the model's own per-class cuts, Otsu where it has none), 'otsu', "
                "or a probability in (0, 1)",
            )
            parser.add_argument("--instances", action="store_true", help="write instance labels, not masks")
            parser.add_argument(
                "--split-touching", action="store_true", help="split touching objects (watershed); implies --instances"
            )
            parser.add_argument(
                "--min-radius", type=positive_float, default=2.0, help="smallest object radius to split, um (2.0)"
            )
            parser.add_argument("--dask", action="store_true", help="run chunk by chunk on a Dask cluster")
            parser.add_argument("--scheduler", help="address of a dask.distributed scheduler (default: a local one)")
            parser.add_argument(
                "--chunks", nargs=3, type=positive_int, metavar=("Z", "Y", "X"), help="Dask chunk (default: 4 tiles)"
            )
        if task == "deblur":
            deconvolve.add_options(parser)
        if task == "classify":
            parser.add_argument("--map", help="write the class map (class index + 1 per voxel) here (.tif or .zarr)")
        parser.set_defaults(run=run_task, task=task)


def _check_options(args: argparse.Namespace) -> list[Path]:
    """Validate everything that needs no file or model; return the output paths."""
    named = (getattr(args, key, None) for key in ("output", "prob", "map"))
    outputs = [check_output_path(p) for p in named if p]
    if len({p.resolve() for p in outputs}) != len(outputs):
        raise BadInputError("the output paths must differ from each other")
    if Path(args.image).resolve() in {p.resolve() for p in outputs}:
        raise BadInputError("an output path is the input image; choose another name (inputs are never overwritten)")
    if args.task == "segment":
        from ..inference.postprocess import parse_threshold

        args.threshold = parse_threshold(args.threshold)
        args.instances = args.instances or args.split_touching
        if (args.scheduler or args.chunks) and not args.dask:
            raise BadInputError("--scheduler and --chunks need --dask")
        if args.dask and args.split_touching:
            raise BadInputError("--split-touching is not available with --dask; use --instances (connected components)")
        if args.dask and any(p.suffix.lower() != ".zarr" for p in outputs):
            raise BadInputError("--dask writes OME-Zarr: give .zarr output paths")
    if args.channel is not None and args.channel < 0:
        raise BadInputError(f"--channel must be 0 or more, got {args.channel}")
    return outputs


def _session(args: argparse.Namespace):
    """The model's session; a note if the device fell back, a warning for a preset's random weights."""
    from ..models.session import ModelSession, PresetWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PresetWarning)
        session = ModelSession(args.model, args.device, quiet=False)
    if session.device_note:
        print(f"bright4b: note: {session.device_note}", file=sys.stderr)
    for warning in caught:
        if issubclass(warning.category, PresetWarning):
            print(f"bright4b: warning: {warning.message}; use it for testing only", file=sys.stderr)
    if session.card.head.task != args.task:
        session.release()
        task = session.card.head.task
        raise BadInputError(f"model {session.card.name!r} is a {task} model; use `bright4b {task}`")
    return session


def run_task(args: argparse.Namespace) -> int:
    if args.task != "deblur" and not args.model:
        raise BadInputError(f"{args.task} needs a model: -m NAME (or a --settings file that names one)")
    if args.task == "deblur":
        deconvolve.check_method(args)
    if batch.is_many(args.image):
        return batch.run(args, run_file, _session if _uses_network(args) else None)
    args.image = args.image[0]
    report(args, run_file(args, time.perf_counter()))
    return 0


def _uses_network(args: argparse.Namespace) -> bool:
    if args.task == "segment":
        return not instant_segment.is_instant(args.model)
    return not (args.task == "deblur" and args.method == "rl")


def run_file(args: argparse.Namespace, started: float, session=None) -> dict:
    """One input to its outputs; the summary of the run. ``session``: the model's, kept open
    across the inputs of a batch (else one is opened and released here)."""
    _check_options(args)
    if not _uses_network(args):
        run = instant_segment.run if args.task == "segment" else deconvolve.run_rl
        return run(args, started)
    volume = read_image(args.image, args.channel, args.axes)
    with nullcontext(session) if session is not None else _session(args) as session:
        card = session.card
        check_channels(volume, card, Path(args.image).name)
        voxel_size, source = voxel_size_of(args, volume, card)
        loaded = time.perf_counter()
        args.provenance = provenance(args.task, vars(args), card.name, args.image)
        summary = {
            "command": args.task,
            "model": card.name,
            "device": str(session.device),
            "device_note": session.device_note,
            "input": {"path": args.image, "shape": list(volume.data.shape), "voxel_size": voxel_size, "from": source},
            "classes": list(card.head.class_names),
        }
        run = {"segment": _segment_dask if getattr(args, "dask", False) else _segment, "deblur": _deblur}
        run = run.get(args.task, _classify)
        summary.update(run(args, session.model, card, volume.data, voxel_size))
    finished = time.perf_counter()
    voxels = volume.data.shape[1] * volume.data.shape[2] * volume.data.shape[3]
    summary.update(timings(started, loaded, finished, voxels))
    return summary


def _engine_options(args) -> dict:
    return dict(tile=args.tile, overlap=args.overlap, views=args.views, batch_size=args.batch_size)


def _per_structure(found, card) -> tuple[list[str], list]:
    """Structure names and one boolean mask each (softmax label maps are split by class)."""
    if card.head.activation == "softmax":
        names = list(card.head.class_names[1:])
        return names, [found[0] == k + 1 for k in range(len(names))]
    return list(card.head.class_names), [m.astype(bool) for m in found]


def _segment(args, model, card, data, voxel_size) -> dict:
    import numpy as np

    from ..inference.postprocess import class_thresholds, instances, masks
    from ..inference.predict import run_model

    shape = (card.head.channels, *data.shape[1:])
    kind = "instances" if args.instances else "masks"
    result: dict = {"outputs": {kind: args.output}}
    with _optional_output(args.prob, shape, "float32", voxel_size, args.provenance) as probabilities:
        with TileProgress("segment", not args.json) as progress:
            run_model(model, card, data, voxel_size, out=probabilities, progress=progress, **_engine_options(args))
        per_class = class_thresholds(args.threshold, card.head.class_names, card.thresholds)
        found, cuts = masks(probabilities, per_class, exclusive=card.head.activation == "softmax")
        names, structures = _per_structure(found, card)
        result["thresholds"] = dict(zip(names, cuts))
        result["foreground_fraction"] = {n: float(m.mean()) for n, m in zip(names, structures)}
        if args.instances:
            found = np.stack([instances(m, voxel_size, args.split_touching, args.min_radius) for m in structures])
            result["instances"] = {n: int(labels.max()) for n, labels in zip(names, found)}
        kind = {"labels": True, "provenance": args.provenance}
        write_image(args.output, found[0] if found.shape[0] == 1 else found, voxel_size, **kind)
    if args.prob:
        result["outputs"]["probabilities"] = args.prob
    return result


def _segment_dask(args, model, card, data, voxel_size) -> dict:
    from ..inference.distributed import segment_dask

    spec = os.fspath(Path(args.model).resolve()) if Path(args.model).is_file() else args.model
    return segment_dask(
        spec,
        card,
        data,
        voxel_size,
        args.output,
        prob_path=args.prob,
        threshold=args.threshold,
        labels=args.instances,
        tile=args.tile,
        overlap=args.overlap,
        views=args.views,
        scheduler=args.scheduler,
        device=args.device,
        chunks=args.chunks,
    )


def _deblur(args, model, card, data, voxel_size) -> dict:
    from ..inference.deconvolution import deblur_input
    from ..inference.predict import run_model

    psf = deconvolve.model_psf(args, voxel_size)
    device = next(model.parameters()).device
    with image_output(args.output, data.shape, "float32", voxel_size, args.provenance) as sharp:
        with TileProgress("deblur", not args.json) as progress:
            read = deblur_input(card, data, psf, device=device, progress=progress)
            run_model(model, card, read, voxel_size, out=sharp, progress=progress, **_engine_options(args))
    return {
        "outputs": {"deblurred": args.output},
        **({"psf": deconvolve.psf_summary(args, psf)} if psf is not None else {}),
    }


def _classify(args, model, card, data, voxel_size) -> dict:
    import numpy as np

    from ..inference.predict import run_model, volume_probabilities

    with TileProgress("classify", not args.json) as progress:
        class_map = run_model(model, card, data, voxel_size, progress=progress, **_engine_options(args))
    probabilities = volume_probabilities(class_map)
    names = list(card.head.class_names)
    result = {
        "prediction": names[int(np.argmax(probabilities))],
        "probabilities": {n: round(float(p), 6) for n, p in zip(names, probabilities)},
    }
    if args.map:
        classes = (np.argmax(class_map, axis=0) + 1).astype(np.uint8)
        write_image(args.map, classes, voxel_size, labels=True, provenance=args.provenance)
        result["outputs"] = {"class_map": args.map}
    return result


def _optional_output(path, shape, dtype, voxel_size, provenance):
    """``image_output`` when a path is given, else a NumPy array that is never saved."""
    if path:
        return image_output(path, shape, dtype, voxel_size, provenance)
    import numpy as np

    return nullcontext(np.zeros(shape, dtype))
