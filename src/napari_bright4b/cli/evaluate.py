"""``bright4b evaluate PRED GT``: compare a segmentation with ground truth, per channel:
overlap (Dice, IoU, precision, recall), surface distances (Hausdorff, HD95, average; in
micrometres at the voxel size of ``--voxel-size``, else of the files, else in voxels),
relative volume error and the difference in connected components."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..analysis.metrics import segmentation_metrics
from ..data.io import read_image
from ..errors import BadInputError
from .options import add_voxel_size


def add_parsers(sub) -> None:
    parser = sub.add_parser(
        "evaluate", help="Dice, IoU, precision, recall, HD95 (um) and more of a segmentation against ground truth"
    )
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
    spacing = tuple(voxel_size) if voxel_size else (1.0, 1.0, 1.0)
    channels = [
        {"channel": c, **segmentation_metrics(prediction.data[c] > 0, truth.data[c] > 0, spacing)}
        for c in range(prediction.data.shape[0])
    ]
    unit = "um" if voxel_size else "voxels"
    result = {"voxel_size": list(voxel_size) if voxel_size else None, "distance_unit": unit, "channels": channels}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    for row in channels:
        scores = "  ".join(f"{k} {row[k]:.4f}" for k in ("dice", "iou", "precision", "recall"))
        print(f"channel {row['channel']}: {scores}  hd95 {row['hd95']:.3g} {unit}  asd {row['asd']:.3g} {unit}")
    return 0
