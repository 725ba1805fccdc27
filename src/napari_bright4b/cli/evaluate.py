"""``bright4b evaluate PRED GT``: compare a segmentation with ground truth, per channel."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..analysis.metrics import overlap_metrics
from ..data.io import read_image
from ..errors import BadInputError
from .options import add_voxel_size


def add_parsers(sub) -> None:
    parser = sub.add_parser("evaluate", help="Dice, IoU, precision and recall of a segmentation against ground truth")
    parser.add_argument("prediction", help="masks or labels (any value > 0 is foreground): .tif or .zarr")
    parser.add_argument("truth", help="ground-truth masks or labels of the same shape")
    add_voxel_size(parser)
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    parser.set_defaults(run=cmd_evaluate)


def cmd_evaluate(args: argparse.Namespace) -> int:
    prediction, truth = read_image(args.prediction), read_image(args.truth)
    if tuple(prediction.data.shape) != tuple(truth.data.shape):
        raise BadInputError(
            f"{Path(args.prediction).name} has shape (C,Z,Y,X) {tuple(prediction.data.shape)} but "
            f"{Path(args.truth).name} has {tuple(truth.data.shape)}; they must match"
        )
    voxel_size = args.voxel_size or truth.voxel_size or prediction.voxel_size
    channels = [
        {"channel": c, **overlap_metrics(prediction.data[c] > 0, truth.data[c] > 0)}
        for c in range(prediction.data.shape[0])
    ]
    result = {"voxel_size": list(voxel_size) if voxel_size else None, "channels": channels}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    for row in channels:
        scores = "  ".join(f"{k} {row[k]:.4f}" for k in ("dice", "iou", "precision", "recall"))
        print(f"channel {row['channel']}: {scores}")
    return 0
