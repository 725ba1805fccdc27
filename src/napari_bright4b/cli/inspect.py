"""``bright4b inspect``: what a Bright-4B model does inside, over a whole volume.

Writes into the output folder, which appears only when complete (an earlier ``inspect``
output there is replaced; any other non-empty folder is refused):

- ``routing_entropy.tif`` and ``dominant_expert.tif`` (0-based expert index): one channel
  per transformer layer; ``expert_usage_layer<N>.tif``: one channel per expert;
- ``gate_compression.tif``, ``gate_selection.tif``, ``gate_window.tif`` (sparse attention
  only): one channel per transformer layer;
- ``pca_layer<N>.tif``: the RGB PCA map of layer N as three uint8 channels;
- ``expert_usage.png``, ``expert_usage_by_depth.png``, ``routing_entropy.png`` and
  ``summary.json`` (also printed by ``--json``).

Every map has one voxel per token, with the token's size as voxel size; ``summary.json``
gives where token (0, 0, 0) lies (``token_grid.translate_um``, from the input's voxel (0, 0, 0)).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from ..data.io import read_image
from ..data.synthetic.colony import STRUCTURES as DEFAULT_STRUCTURES
from ..errors import BadInputError
from .inputs import check_channels, voxel_size_of
from .options import add_axes, add_voxel_size, overlap_fraction, positive_int
from .progress import TileProgress

SUMMARY = "summary.json"
STRUCTURE_PLOT = "expert_usage_by_structure.png"

HELP = "routing entropy, expert usage, attention gates and PCA token maps of a Bright-4B model"


def add_parsers(sub) -> None:
    parser = sub.add_parser("inspect", help=HELP, description=HELP)
    parser.add_argument("image", help="input TIFF/OME-TIFF or OME-Zarr, (C,)Z,Y,X")
    parser.add_argument("-m", "--model", required=True, help="registry name, .safetensors path or preset")
    parser.add_argument("-o", "--output", required=True, help="folder for the maps, plots and summary")
    parser.add_argument(
        "--layers",
        nargs="+",
        type=positive_int,
        metavar="N",
        help="transformer layers (1-based) to project to RGB by PCA (default: L/4, L/2, 3L/4, L)",
    )
    parser.add_argument("--channel", type=int, help="channel to use from a multi-channel image (0-based)")
    add_voxel_size(parser)
    add_axes(parser)
    parser.add_argument("--tile", nargs=3, type=positive_int, metavar=("Z", "Y", "X"), help="tile size (voxels)")
    parser.add_argument("--overlap", type=overlap_fraction, default=0.25, help="tile overlap fraction (0.25)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (auto)")
    parser.add_argument(
        "--truth", help="labels of structures on the image's grid (TIFF/OME-Zarr): expert usage per structure"
    )
    parser.add_argument(
        "--structures",
        default=",".join(DEFAULT_STRUCTURES),
        help=f"names of --truth's values 0, 1, ... (default: {','.join(DEFAULT_STRUCTURES)})",
    )
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.set_defaults(run=run_inspect)


def _check_paths(args: argparse.Namespace) -> Path:
    """The output folder, refused if it is a file, holds someone else's files or holds the input."""
    out, image = Path(args.output), Path(args.image).resolve()
    if out.exists() and not out.is_dir():
        raise BadInputError(f"cannot write {out}: it is a file; give a folder for the maps")
    if out.is_dir() and any(out.iterdir()) and not (out / SUMMARY).is_file():
        raise BadInputError(f"{out} holds other files; give a new folder (an earlier inspect output is replaced)")
    if out.resolve() in image.parents:
        raise BadInputError(f"the image is inside {out}, which would be replaced; write to another folder")
    if args.channel is not None and args.channel < 0:
        raise BadInputError(f"--channel must be 0 or more, got {args.channel}")
    return out


def _session(args: argparse.Namespace):
    from ..models.registry import resolve
    from ..models.session import ModelSession

    if resolve(args.model).is_preset:
        print(
            f"bright4b: warning: {args.model!r} is a preset with random weights: its routing means nothing",
            file=sys.stderr,
        )
    session = ModelSession(args.model, args.device)
    if session.device_note:
        print(f"bright4b: note: {session.device_note}", file=sys.stderr)
    return session


def _write(folder: Path, inspection, title: str) -> list[str]:
    """The maps, plots and nothing else into ``folder``; returns the file names."""
    import numpy as np

    from ..analysis.inspection import PATHS
    from ..analysis.plots import write_plots
    from ..data.tiff import write_tiff

    voxel = inspection.grid.placement()[0]
    maps = {"routing_entropy": inspection.entropy, "dominant_expert": inspection.dominant_expert}
    maps.update({f"expert_usage_layer{n + 1}": usage for n, usage in enumerate(inspection.usage)})
    if inspection.gates is not None:
        maps.update({f"gate_{path}": inspection.gates[:, p] for p, path in enumerate(PATHS)})
    maps.update({f"pca_layer{n}": np.moveaxis(rgb, -1, 0) for n, rgb in sorted(inspection.pca.items())})
    for name, data in maps.items():
        write_tiff(folder / f"{name}.tif", data, voxel)
    plots = write_plots(inspection, folder, title)
    return [f"{name}.tif" for name in maps] + [path.name for path in plots.values()]


def run_inspect(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    out = _check_paths(args)
    volume = read_image(args.image, args.channel, args.axes)
    from ..analysis.inspection import inspect_volume
    from ..files import atomic_directory

    with _session(args) as session:
        card = session.card
        check_channels(volume, card, Path(args.image).name)
        voxel_size, source = voxel_size_of(args, volume, card)
        loaded = time.perf_counter()
        options = dict(pca_layers=args.layers, tile=args.tile, overlap=args.overlap)
        with TileProgress("inspect", not args.json) as progress:
            inspection = inspect_volume(session.model, card, volume.data, voxel_size, progress=progress, **options)
    ran = time.perf_counter()
    per_structure = _per_structure(args, inspection) if args.truth else None
    summary = {
        "command": "inspect",
        "model": card.name,
        "device": str(session.device),
        "input": {"path": args.image, "shape": list(volume.data.shape), "voxel_size": voxel_size, "from": source},
        **inspection.summary(),
    }
    if per_structure is not None:
        summary["per_structure"] = per_structure
    with atomic_directory(out) as folder:
        title = f"{card.name} on {Path(args.image).name}"
        files = _write(folder, inspection, title)
        if per_structure is not None:
            from ..analysis.plots import write_structure_plot

            files.append(write_structure_plot(per_structure, folder / STRUCTURE_PLOT, title).name)
        summary["outputs"] = {"folder": str(out), "files": [*files, SUMMARY]}
        summary["seconds"] = {
            "load": round(loaded - started, 3),
            "run": round(ran - loaded, 3),
            "total": round(time.perf_counter() - started, 3),
        }
        (folder / SUMMARY).write_text(json.dumps(summary, indent=2) + "\n")
    _report(args, summary)
    return 0


def _per_structure(args: argparse.Namespace, inspection) -> dict:
    """Expert usage per structure of ``--truth`` (named by ``--structures``)."""
    from ..analysis.structure_usage import structure_usage, token_structures

    names = [n.strip() for n in args.structures.split(",") if n.strip()]
    truth = read_image(args.truth)
    if truth.data.shape[0] != 1:
        raise BadInputError(f"{Path(args.truth).name}: structure labels have one channel, got {truth.data.shape[0]}")
    tokens = token_structures(truth.data[0], inspection.grid, len(names))
    return structure_usage(inspection, tokens, names)


def _report(args: argparse.Namespace, summary: dict) -> None:
    if args.json:
        print(json.dumps(summary, indent=2))
        return
    grid = summary["token_grid"]
    print(f"inspect: {summary['input']['path']} with {summary['model']} on {summary['device']}")
    print(
        f"  {summary['layers']} layers x {summary['experts']} experts; {summary['tiles']} tile(s); "
        f"tokens {'x'.join(map(str, grid['shape']))} of {' x '.join(f'{v:g}' for v in grid['voxel_size_um'])} um"
    )
    gates = summary["mean_gates_per_layer"]
    print("  layer  entropy  top expert (share)" + ("  gates compression/selection/window" if gates else ""))
    for layer, (entropy, usage) in enumerate(zip(summary["mean_entropy_per_layer"], summary["expert_usage"])):
        top = max(range(len(usage)), key=usage.__getitem__)
        line = f"  {layer + 1:>5}  {entropy:7.4f}  {top:>10} ({usage[top]:.3f})"
        if gates:
            line += "  " + "/".join(f"{gates[path][layer]:.3f}" for path in gates)
        print(line)
    if "per_structure" in summary:
        report = summary["per_structure"]
        print("  layer  MI (bits)  top expert per structure: " + ", ".join(report["structures"]))
        for layer, row in enumerate(report["layers"]):
            tops = [max(range(len(u)), key=u.__getitem__) for u in row["usage"].values()]
            print(f"  {layer + 1:>5}  {row['mutual_information_bits']:9.3f}  {' '.join(map(str, tops))}")
    print(f"  wrote {summary['outputs']['folder']}/: {' '.join(summary['outputs']['files'])}")
    print(f"  {summary['seconds']['total']:.1f} s ({summary['seconds']['run']:.1f} s inspecting)")
