"""The npe2 writers: image and labels layers to TIFF or OME-Zarr, keeping the voxel size.

napari's own TIFF writer drops the layer's scale; these write it as the file's voxel size
(the layer's scale in micrometres, the last three axes), OME-Zarr also its translate, and
mark labels so that :mod:`.reader` opens them as labels again. Writes are atomic: an
interrupted save leaves the previous file as it was.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..data.io import write_image
from ..errors import BadInputError


def _spatial(values: Sequence[float] | None, ndim: int) -> tuple[float, float, float] | None:
    """The last three of a layer's per-axis ``values`` (z, y, x); a 2D layer gets z = 1."""
    if values is None:
        return None
    values = [float(v) for v in values][-min(ndim, 3) :]
    return tuple([1.0] * (3 - len(values)) + values)


def _volume(data, meta: dict) -> np.ndarray:
    """The layer's data as ``(Z, Y, X)`` or ``(C, Z, Y, X)``: the finest level of a multiscale
    layer, read whole."""
    if meta.get("multiscale") or isinstance(data, list):
        data = data[0]
    if meta.get("rgb"):
        raise BadInputError(f"{meta.get('name', 'the layer')} is RGB; save it with napari's own writer")
    array = np.asarray(data)
    if array.ndim == 2:
        return array[None]
    if array.ndim not in (3, 4):
        raise BadInputError(f"cannot save a {array.ndim}D layer: use (Z, Y, X) or (C, Z, Y, X) layers")
    return array


def _write(path: str, data, meta: dict, labels: bool) -> list[str]:
    array = _volume(data, meta)
    spatial = 3 if array.ndim == 3 else 4
    voxel_size = _spatial(meta.get("scale"), spatial)
    origin = _spatial(meta.get("translate"), spatial)
    if origin is not None and not any(origin):
        origin = None
    return [str(write_image(path, array, voxel_size, origin, labels))]


def write_image_layer(path: str, data, meta: dict) -> list[str]:
    """npe2 writer for one image layer."""
    return _write(path, data, meta, labels=False)


def write_labels_layer(path: str, data, meta: dict) -> list[str]:
    """npe2 writer for one labels layer."""
    return _write(path, data, meta, labels=True)
