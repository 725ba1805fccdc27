"""Microscope formats this project does not read itself (CZI, ND2, LIF, ...), through bioio.

Optional: ``pip install 'napari-bright4b[formats]'`` brings bioio with its CZI, ND2 and
LIF plugins (any other bioio reader plugin installed works too). bioio gives a lazy
``TCZYX`` dask array and the physical pixel sizes in micrometres; a single time point is
kept, more are refused as for every other format.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import BadInputError
from .volume import Volume, order_czyx, overridden_axes

EXTRA = "pip install 'napari-bright4b[formats]'"


def read_bioio(path: str | os.PathLike, channel: int | None = None, axes: str | None = None) -> Volume:
    """``(C, Z, Y, X)`` (lazy) and the voxel size of a file that a bioio plugin reads."""
    path = Path(path)
    try:
        from bioio import BioImage
    except ImportError:
        raise BadInputError(f"{path.name}: reading this format needs bioio and its plugin: {EXTRA}") from None
    try:
        image = BioImage(path)
        data = image.dask_data
        stored = "".join(image.dims.order)
        sizes = image.physical_pixel_sizes
    except Exception as err:  # bioio's and its plugins' many errors, e.g. no plugin for this suffix
        raise BadInputError(f"{path.name} could not be read through bioio: {type(err).__name__}: {err}") from None
    if axes:
        stored = overridden_axes(axes, data.shape, path.name)
    if "T" in stored:
        if data.shape[stored.index("T")] > 1:
            raise BadInputError(f"{path.name} is a time series (axes {stored}); save one time point as a Z stack")
        data, stored = data[(slice(None),) * stored.index("T") + (0,)], stored.replace("T", "")
    values = (sizes.Z, sizes.Y, sizes.X)
    voxel_size = tuple(float(v) for v in values) if all(v is not None and v > 0 for v in values) else None
    return Volume(order_czyx(data, stored, path.name, channel), voxel_size)
