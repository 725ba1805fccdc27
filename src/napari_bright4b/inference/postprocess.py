"""From probabilities to masks and instance labels.

Thresholds are ``"model"`` (the per-class cuts the model's card carries, chosen on its
training data; Otsu for classes without one), ``"otsu"`` (per class, on the probability
map, as in the Bright-4B paper) or a number in (0, 1). Instances are connected components of a mask; touching objects
(nuclei) can be split by a watershed on the distance to the background, measured in
micrometres so anisotropic voxels are handled.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage
from skimage.feature import peak_local_max
from skimage.filters import threshold_otsu
from skimage.measure import label
from skimage.segmentation import watershed

from ..errors import BadInputError
from .normalize import subsample

Threshold = str | float
SLAB = 16  # z-slices of probabilities read at a time


def parse_threshold(text: str | float) -> Threshold:
    """``"model"``, ``"otsu"`` or a number strictly between 0 and 1."""
    if isinstance(text, str) and text.strip().lower() in ("model", "otsu"):
        return text.strip().lower()
    try:
        value = float(text)
    except (TypeError, ValueError):
        value = float("nan")
    if not 0.0 < value < 1.0:
        raise BadInputError(f"threshold must be 'model', 'otsu' or a number between 0 and 1, got {text!r}")
    return value


def class_thresholds(threshold: Threshold, class_names: Sequence[str], model_cuts: dict[str, float]) -> list[Threshold]:
    """One threshold per class: ``"model"`` becomes the model's cut for each class (``model_cuts``,
    from its card), or ``"otsu"`` where it has none; anything else applies to every class."""
    if threshold == "model":
        return [model_cuts.get(name, "otsu") for name in class_names]
    return [threshold] * len(class_names)


def threshold_value(probabilities, threshold: Threshold, index: tuple = ()) -> float:
    """The cut for one class's probability map ``probabilities[index]`` ``(Z, Y, X)`` (any
    sliceable array: Otsu reads a regular subsample of it, nothing more)."""
    if threshold != "otsu":
        return float(threshold)
    sample = subsample(probabilities, index)
    if np.ptp(sample) < 1e-6:  # a flat map has no two classes to separate
        return 0.5
    return float(threshold_otsu(sample))


def masks(
    probabilities, threshold: Threshold | Sequence[Threshold] = "otsu", exclusive: bool = False
) -> tuple[np.ndarray, list[float]]:
    """Masks ``(K, Z, Y, X)`` uint8 from probabilities ``(K, Z, Y, X)`` and the cuts used;
    ``threshold`` is ``"otsu"``, a number, or one of those per class.

    ``exclusive`` (softmax models) gives one label map ``(1, Z, Y, X)`` of the most
    probable class, 0 for the background channel, and no cuts. ``probabilities`` may be
    on disk (zarr): it is read :data:`SLAB` slices at a time, so memory holds the masks
    and one slab, never a whole class in float32.
    """
    depth = probabilities.shape[1]
    if exclusive:
        found = np.empty((1, *probabilities.shape[1:]), dtype=np.uint8)
        for z in range(0, depth, SLAB):
            found[0, z : z + SLAB] = np.argmax(np.asarray(probabilities[:, z : z + SLAB]), axis=0)
        return found, []
    classes = probabilities.shape[0]
    per_class = [threshold] * classes if isinstance(threshold, (str, float, int)) else threshold
    if len(per_class) != classes:
        raise ValueError(f"{len(per_class)} thresholds for {classes} classes")
    cuts = [threshold_value(probabilities, t, (k,)) for k, t in enumerate(per_class)]
    found = np.empty(probabilities.shape, dtype=np.uint8)  # filled in place: no boolean temporaries
    for k, cut in enumerate(cuts):
        for z in range(0, depth, SLAB):
            slab = np.asarray(probabilities[k, z : z + SLAB])
            np.greater(slab, cut, out=found[k, z : z + SLAB], casting="unsafe")
    return found, cuts


def instances(
    mask: np.ndarray,
    voxel_size: Sequence[float] | None = None,
    split_touching: bool = False,
    min_radius_um: float = 2.0,
) -> np.ndarray:
    """Instance labels ``(Z, Y, X)`` uint32 for a binary ``mask``, 0 = background.

    ``split_touching`` separates objects joined by a neck: one seed per local maximum of
    the distance to the background at least ``min_radius_um`` apart, then a watershed.
    """
    mask = np.asarray(mask).astype(bool)
    if not split_touching:
        return label(mask, connectivity=1).astype(np.uint32)
    spacing = tuple(voxel_size) if voxel_size is not None else (1.0, 1.0, 1.0)
    distance = ndimage.distance_transform_edt(mask, sampling=spacing)
    footprint_radius = [max(1, int(round(min_radius_um / s))) for s in spacing]
    footprint = np.ones([2 * r + 1 for r in footprint_radius], dtype=bool)
    peaks = peak_local_max(distance, footprint=footprint, labels=label(mask, connectivity=1), exclude_border=False)
    seeds = np.zeros(mask.shape, dtype=bool)
    seeds[tuple(peaks.T)] = True
    markers = label(seeds, connectivity=3)  # the peaks of one plateau are one seed
    labels = watershed(-distance, markers, mask=mask).astype(np.uint32)
    missed = mask & (labels == 0)  # a component without a seed keeps its own label
    if missed.any():
        extra = label(missed, connectivity=1).astype(np.uint32)
        labels[missed] = extra[missed] + labels.max()
    return labels
