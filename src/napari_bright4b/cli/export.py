"""``bright4b export MODEL -o model.zip``: a model as a bioimage.io package (spec 0.5)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from ..errors import BadInputError
from .options import add_zyx, positive_int

HELP = "export a model as a bioimage.io package (.zip), for the bioimage.io tools"
FORMATS = ("bioimageio",)


def add_parsers(sub) -> None:
    parser = sub.add_parser("export", help=HELP, description=HELP)
    parser.add_argument("model", help="registry name or .safetensors path (a segmentation or deblurring model)")
    parser.add_argument("-o", "--output", required=True, help="the package: a .zip file")
    parser.add_argument("--format", choices=FORMATS, default="bioimageio", help="package format (bioimageio)")
    add_zyx(parser, "--test-shape", positive_int, "shape of the package's test tensors (default: the model's tile)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(run=run_export)


def run_export(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    try:
        from ..inference.bioimageio import export_bioimageio
    except ImportError:
        raise BadInputError(
            "bioimage.io export needs bioimageio.spec: pip install 'napari-bright4b[bioimageio]'"
        ) from None
    if Path(args.output).exists() and Path(args.output).is_dir():
        raise BadInputError(f"{args.output} is a folder; give the package's .zip path")
    path = export_bioimageio(args.model, args.output, args.test_shape)
    summary = {
        "command": "export",
        "model": args.model,
        "format": args.format,
        "output": str(path),
        "bytes": path.stat().st_size,
        "seconds": round(time.perf_counter() - started, 2),
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(
            f"wrote {path} ({summary['bytes'] / 1e6:.1f} MB, {summary['seconds']:.1f} s); test it with "
            f"`bioimageio test {path}`"
        )
    return 0
