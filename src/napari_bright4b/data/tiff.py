"""TIFF and OME-TIFF in and out, with the voxel size (z, y, x) in micrometres.

Reading returns ``(C, Z, Y, X)`` (a channel axis is always present) and the voxel size
from ImageJ or OME metadata when the file has one. Writing is atomic and records the
voxel size as ImageJ metadata, which napari, Fiji and tifffile all read back.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from functools import partial
from pathlib import Path

import numpy as np
import tifffile
import zarr

from ..errors import BadInputError
from ..files import atomic_path
from .units import um_per_unit
from .volume import Volume, lazy_array, order_czyx, overridden_axes

SUFFIXES = (".tif", ".tiff")
OME_SUFFIXES = (".ome.tif", ".ome.tiff")
LAZY_BYTES = 1 << 30  # larger files are read lazily
LAYER_PROPERTY = "bright4b_layer"  # "labels" marks a labels file: an ImageJ property, a key of the OME description
PROVENANCE_PROPERTY = "bright4b_provenance"  # what made the file (JSON): likewise
IMAGEJ_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.float32))


def _ome_voxel_size(tif: tifffile.TiffFile) -> tuple[float, float, float] | None:
    if not tif.ome_metadata:
        return None
    pixels = tifffile.xml2dict(tif.ome_metadata).get("OME", {}).get("Image", {})
    pixels = (pixels[0] if isinstance(pixels, list) else pixels).get("Pixels", {})
    sizes = [pixels.get(f"PhysicalSize{axis}") for axis in "ZYX"]
    scales = [um_per_unit(pixels.get(f"PhysicalSize{axis}Unit")) for axis in "ZYX"]
    if not all(isinstance(s, (int, float)) for s in sizes) or None in scales:
        return None
    return tuple(float(s) * k for s, k in zip(sizes, scales))


def _imagej_voxel_size(tif: tifffile.TiffFile) -> tuple[float, float, float] | None:
    meta = tif.imagej_metadata or {}
    page = tif.pages.first
    try:
        x_num, x_den = page.tags["XResolution"].value
        y_num, y_den = page.tags["YResolution"].value
    except KeyError:
        return None
    scale = um_per_unit(meta.get("unit"))
    if "spacing" not in meta or not x_num or not y_num or scale is None:
        return None
    return (float(meta["spacing"]) * scale, y_den / y_num * scale, x_den / x_num * scale)


def read_tiff(path: str | os.PathLike, channel: int | None = None, axes: str | None = None) -> Volume:
    """Read a (C,)Z,Y,X TIFF; ``channel`` picks one channel; ``axes`` overrides the axes its
    metadata names (:func:`~.volume.overridden_axes`). Refuses RGB and time series. A file
    over :data:`LAZY_BYTES` is read lazily, page by page (a dask array over tifffile's zarr
    store, opened again where it is read), so a volume larger than RAM runs tile by tile."""
    path = Path(path)
    if path.suffix.lower() not in SUFFIXES:
        raise BadInputError(f"{path.name}: not a TIFF file (expected {', '.join(SUFFIXES)})")
    if not path.is_file():
        raise BadInputError(f"{path} does not exist")
    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            data = _lazy(path, series) if series.nbytes > LAZY_BYTES else series.asarray()
            stored_axes, notes = series.axes, _notes(tif)
            voxel_size = _positive(_ome_voxel_size(tif) or _imagej_voxel_size(tif))
    except Exception as err:  # a damaged file can make tifffile fail in any way
        raise BadInputError(f"{path.name} could not be read as TIFF: {type(err).__name__}: {err}") from None
    if data.size == 0 or data.ndim != len(stored_axes):
        raise BadInputError(f"{path.name} is damaged: its data has shape {data.shape} but its axes are {stored_axes}")
    axes = overridden_axes(axes, data.shape, path.name) if axes else stored_axes
    labels, provenance = notes.get(LAYER_PROPERTY) == "labels", notes.get(PROVENANCE_PROPERTY)
    try:
        provenance = json.loads(provenance) if isinstance(provenance, str) else None
    except ValueError:
        provenance = None  # not ours, or damaged: the pixels are still good
    return Volume(_to_czyx(data, axes, path.name, channel), voxel_size, labels=labels, provenance=provenance)


def open_tiff_store(path: str):
    """The first series of the TIFF at ``path`` as a zarr array (the file stays open)."""
    return zarr.open(tifffile.TiffFile(path).series[0].aszarr(), mode="r")


def _lazy(path: Path, series: tifffile.TiffPageSeries):
    """The series as a dask array of whole pages, grouped into chunks of about 64 MiB."""
    store = zarr.open(series.aszarr(), mode="r")
    page = int(np.prod(store.chunks)) * store.dtype.itemsize
    chunks = list(store.chunks)
    first = next((i for i, c in enumerate(chunks) if c == 1), None)  # the page axis nearest the front
    if first is not None:
        chunks[first] = max(1, min(store.shape[first], (64 << 20) // max(page, 1)))
    return lazy_array(partial(open_tiff_store, str(path)), path.name, store.shape, store.dtype, tuple(chunks))


def _positive(voxel_size: tuple[float, float, float] | None) -> tuple[float, float, float] | None:
    """The voxel size if every value is a finite positive length, else ``None`` (not a guess)."""
    if voxel_size is None or not all(np.isfinite(v) and v > 0 for v in voxel_size):
        return None
    return voxel_size


def _notes(tif: tifffile.TiffFile) -> dict:
    """What :func:`write_tiff` noted beside the pixels: ImageJ properties, or the OME
    description's JSON."""
    properties = (tif.imagej_metadata or {}).get("Properties")
    if properties:
        return dict(properties)
    if not tif.ome_metadata:
        return {}
    image = tifffile.xml2dict(tif.ome_metadata).get("OME", {}).get("Image", {})
    description = (image[0] if isinstance(image, list) else image).get("Description")
    try:
        notes = json.loads(description) if isinstance(description, str) else {}
    except ValueError:
        return {}
    return notes if isinstance(notes, dict) else {}


def _to_czyx(data: np.ndarray, axes: str, name: str, channel: int | None) -> np.ndarray:
    if "S" in axes:
        raise BadInputError(f"{name} is an RGB image (axes {axes}); convert it to a grey-level stack first")
    if "T" in axes and data.shape[axes.index("T")] > 1:
        raise BadInputError(f"{name} is a time series (axes {axes}); save one time point as a Z stack")
    singletons = [i for i, a in enumerate(axes) if a in "TQI" and data.shape[i] == 1]  # time or unnamed
    for i in reversed(singletons):
        data, axes = data.squeeze(i), axes[:i] + axes[i + 1 :]
    unnamed = [a for a in "QI" if a in axes]
    if "Z" not in axes and len(unnamed) == 1:  # a plain multi-page TIFF: its pages are z-slices
        axes = axes.replace(unnamed[0], "Z")
    if axes == "YX":
        data, axes = data[None], "ZYX"
    if axes == "ZYX":
        data, axes = data[None], "CZYX"
    return order_czyx(data, axes, name, channel)


def write_tiff(
    path: str | os.PathLike,
    data: np.ndarray,
    voxel_size: tuple[float, float, float] | None,
    labels: bool = False,
    provenance: Mapping | None = None,
) -> Path:
    """Write ``(Z, Y, X)`` or ``(C, Z, Y, X)`` atomically with the voxel size; ``labels`` marks
    the file as labels and ``provenance`` records what made it, both read back by
    :func:`read_tiff`.

    A ``.ome.tif`` path is written as OME-TIFF; otherwise uint8, uint16 and float32 are
    written as ImageJ hyperstacks (Fiji, napari), other integers (instance labels) as
    uint16 when they fit, else as OME-TIFF.
    """
    path = Path(path)
    if data.ndim == 4:
        data, axes = np.moveaxis(data, 0, 1), "ZCYX"  # ImageJ hyperstack order
    elif data.ndim == 3:
        axes = "ZYX"
    else:
        raise ValueError(f"expected (Z, Y, X) or (C, Z, Y, X) data, got shape {data.shape}")
    if data.dtype == np.float64:
        data = data.astype(np.float32)
    if data.dtype.kind in "iu" and data.dtype not in IMAGEJ_DTYPES:
        low, high = (int(data.min()), int(data.max())) if data.size else (0, 0)
        if 0 <= low and high <= 65535:
            data = data.astype(np.uint16)
    notes = {LAYER_PROPERTY: "labels"} if labels else {}
    if provenance:
        notes[PROVENANCE_PROPERTY] = json.dumps(provenance)
    ome = path.name.lower().endswith(OME_SUFFIXES) or data.dtype not in IMAGEJ_DTYPES
    with atomic_path(path) as tmp:
        if not ome:
            metadata, resolution = {"axes": axes}, None
            if voxel_size is not None:
                z, y, x = voxel_size
                metadata.update(spacing=z, unit="um")
                resolution = (1.0 / x, 1.0 / y)
            if notes:
                metadata["Properties"] = notes
            tifffile.imwrite(tmp, np.ascontiguousarray(data), imagej=True, resolution=resolution, metadata=metadata)
        else:  # OME-TIFF holds any dtype (labels beyond 65535, signed integers)
            metadata = {"axes": axes}
            if voxel_size is not None:
                metadata.update({f"PhysicalSize{a}": v for a, v in zip("ZYX", voxel_size)})
                metadata.update({f"PhysicalSize{a}Unit": "µm" for a in "ZYX"})
            if notes:
                metadata["Description"] = json.dumps(notes)
            tifffile.imwrite(tmp, np.ascontiguousarray(data), ome=True, metadata=metadata)
    return path
