"""The npe2 reader: TIFF, OME-TIFF, OME-Zarr, NIfTI (and CZI, ND2, LIF with bioio) as layers
in micrometres.

napari's own reader gives a TIFF the scale (1, 1, 1) whatever its metadata says; this one
gives each layer the file's voxel size as its scale and its origin as its translate, one
layer per channel, the data lazy for OME-Zarr and large TIFFs. Files written as labels
(:mod:`.writer`, or an NGFF ``image-label``) open as Labels layers.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import tifffile

from ..data.io import BIOIO_SUFFIXES, read_image
from ..data.nifti import is_nifti
from ..data.ome_zarr import is_zarr
from ..data.tiff import SUFFIXES as TIFF_SUFFIXES

LayerData = tuple[object, dict, str]


def readable(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a TIFF or NIfTI file or a zarr folder this reader opens."""
    path = Path(path)
    if path.is_dir():
        return is_zarr(path)
    if path.is_file() and path.suffix.lower() in TIFF_SUFFIXES:
        return _grey_stack(path)
    return path.is_file() and (path.suffix.lower() in BIOIO_SUFFIXES or is_nifti(path))


def _grey_stack(path: Path) -> bool:
    """Whether a TIFF is one this reader opens: not RGB, not a time series (napari's own
    reader then takes it); a file tifffile cannot parse is left to it too."""
    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            axes, shape = series.axes, series.shape
    except Exception:  # not ours to judge: another reader may know better
        return False
    return "S" not in axes and ("T" not in axes or shape[axes.index("T")] == 1)


def get_reader(path: str | list[str]) -> Callable[[str | list[str]], list[LayerData]] | None:
    """npe2 reader hook: :func:`read_layers` if every path is readable, else ``None`` (napari
    then offers its other readers)."""
    paths = [path] if isinstance(path, (str, os.PathLike)) else list(path)
    return read_layers if paths and all(readable(p) for p in paths) else None


def read_layers(path: str | list[str]) -> list[LayerData]:
    """The layers of one or several files, one per channel, in micrometres."""
    paths = [path] if isinstance(path, (str, os.PathLike)) else list(path)
    return [layer for p in paths for layer in file_layers(p)]


def file_layers(path: str | os.PathLike) -> list[LayerData]:
    """The layers of one file: ``(data (Z, Y, X), kwargs, "image" or "labels")`` per channel,
    with ``scale`` (the voxel size, um) and ``translate`` (the origin, um) where the file
    records them; ``metadata["bright4b_file"]`` says what was read (and, for a bright4b
    output, the model and settings that made it)."""
    volume = read_image(path)
    stem = Path(path).name.split(".")[0]
    channels = volume.data.shape[0]
    labels = volume.labels and np.issubdtype(volume.data.dtype, np.integer)
    layers = []
    for c in range(channels):
        kwargs: dict = {
            "name": stem if channels == 1 else f"{stem} [channel {c}]",
            "metadata": {
                "bright4b_file": {
                    "path": os.fspath(path),
                    "voxel_size_um": list(volume.voxel_size) if volume.voxel_size else None,
                    "channel": c,
                    "provenance": volume.provenance,
                }
            },
        }
        if volume.voxel_size is not None:
            kwargs["scale"] = tuple(volume.voxel_size)
        if volume.origin is not None:
            kwargs["translate"] = tuple(volume.origin)
        layers.append((volume.data[c], kwargs, "labels" if labels else "image"))
    return layers
