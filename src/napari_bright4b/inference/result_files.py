"""A run's result as files named from its input, for runs over a folder.

Segmentation writes its masks (``<input>_masks``, uint8, one channel per structure) or
instance labels (``<input>_instances``, uint32), deblurring the sharp volume
(``<input>_deblurred``, float32), classification the class map (``<input>_classes``,
class index + 1). Each file keeps the input's voxel size and records the model and
settings that made it (the caller's provenance, :func:`~..run_settings.provenance`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data.batch import FileResult, figure_columns, output_path
from ..data.io import write_image
from .job import Result


def _stacked(arrays: list[np.ndarray]) -> np.ndarray:
    return arrays[0] if len(arrays) == 1 else np.stack(arrays)


def write_result(result: Result, folder: Path, source: Path, made: dict | None = None) -> FileResult:
    """Write ``result`` of the run on ``source`` into ``folder``, recording ``made`` (its
    provenance); its outputs and per-file figures (structure fractions and object counts, or
    the predicted class)."""
    values: dict[str, object] = {}
    if result.task == "segment":
        structures = result.structures
        kind = "instances" if any(s.kind == "instances" for s in structures) else "masks"
        data = _stacked([s.labels for s in structures])
        fractions = {s.name: float((s.labels > 0).mean()) for s in structures}
        objects = {s.name: int(s.labels.max()) for s in structures if s.kind == "instances"}
        values, labels = figure_columns(fractions, objects), True
    elif result.task == "deblur":
        kind, data, labels = "deblurred", result.maps[0], False
    else:
        kind, data, labels = "classes", result.class_map, True
        values = figure_columns(prediction=result.class_names[int(np.argmax(result.volume_probabilities))])
    path = write_image(output_path(folder, source, kind), data, result.voxel_size, labels=labels, provenance=made)
    return FileResult(str(source), outputs={kind: str(path)}, values=values, seconds=result.seconds)
