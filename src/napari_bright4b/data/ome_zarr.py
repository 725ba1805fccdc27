"""OME-Zarr in and out: NGFF 0.5 on zarr v3 (also reads NGFF 0.4 on zarr v2).

Reading gives a lazy dask array ``(C, Z, Y, X)`` over the full-resolution level, so a
volume larger than RAM is read tile by tile, and the voxel size in micrometres from the
level's scale transformation. Writing creates one full-resolution level with axes
``c, z, y, x`` in micrometres, atomically (a temporary folder renamed into place).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import dask.array as da
import numpy as np
import zarr

from ..errors import BadInputError
from ..files import atomic_directory
from .units import um_per_unit
from .volume import Volume, lazy_array, order_czyx, overridden_axes

NGFF_VERSION = "0.5"
PROVENANCE_KEY = "bright4b_provenance"


def is_zarr(path: str | os.PathLike) -> bool:
    path = Path(path)
    return path.suffix.lower() == ".zarr" or (path / "zarr.json").is_file() or (path / ".zgroup").is_file()


def _multiscale(attrs: dict) -> dict | None:
    multiscales = attrs.get("ome", attrs).get("multiscales")
    return multiscales[0] if multiscales else None


def read_ome_zarr(path: str | os.PathLike, channel: int | None = None, axes_override: str | None = None) -> Volume:
    """Read an OME-Zarr image (or a bare zarr array) as ``(C, Z, Y, X)``."""
    path = Path(path)
    if not path.exists():
        raise BadInputError(f"{path} does not exist")
    try:
        node = zarr.open(store=str(path), mode="r")
    except Exception as err:  # zarr raises many kinds for a folder that is not zarr
        raise BadInputError(f"{path.name} could not be read as zarr: {err}") from None
    voxel_size, origin, axes, labels, provenance = None, None, None, False, None
    if isinstance(node, zarr.Group):
        multiscale = _multiscale(dict(node.attrs))
        if multiscale is None or not isinstance(multiscale.get("axes"), list) or not multiscale.get("datasets"):
            raise BadInputError(
                f"{path.name} is a zarr group without OME-NGFF 0.4+ multiscales metadata (axes and datasets)"
            )
        dataset = multiscale["datasets"][0]
        dataset_path = dataset["path"]
        named = [a if isinstance(a, dict) else {"name": str(a)} for a in multiscale["axes"]]  # NGFF 0.3: names
        axes = [str(a.get("name", "?")).lower() for a in named]
        units = [a.get("unit") for a in named]
        array = node[dataset["path"]]
        transforms = {t["type"]: t for t in dataset.get("coordinateTransformations", [])}
        factors = [um_per_unit(units[axes.index(a)]) for a in "zyx" if a in axes]
        if all(a in axes for a in "zyx") and None not in factors:
            voxel_size, origin = (
                tuple(float(transforms[kind][kind][axes.index(a)]) * k for a, k in zip("zyx", factors))
                if kind in transforms
                else None
                for kind in ("scale", "translation")
            )
            if voxel_size is not None and not all(v > 0 for v in voxel_size):
                voxel_size = None  # a scale of 0 or less is no voxel size: not a guess
        labels = "image-label" in node.attrs.get("ome", node.attrs)
        provenance = node.attrs.get(PROVENANCE_KEY)
    else:
        array = node
    axes = "".join(axes).upper() if axes else {3: "ZYX", 4: "CZYX"}.get(array.ndim, "?" * array.ndim)
    if axes_override:
        axes = overridden_axes(axes_override, array.shape, path.name)
    where = dataset_path if isinstance(node, zarr.Group) else None
    data = lazy_array(partial(open_zarr_array, str(path), where), path.name, array.shape, array.dtype, array.chunks)
    return Volume(_to_czyx(data, axes, path.name, channel), voxel_size, origin, labels, provenance)


def open_zarr_array(path: str, dataset: str | None):
    """The array at ``dataset`` of the zarr group at ``path`` (or the zarr array at ``path``)."""
    node = zarr.open(store=path, mode="r")
    return node[dataset] if dataset is not None else node


def _to_czyx(data: da.Array, axes: str, name: str, channel: int | None) -> da.Array:
    if "T" in axes:
        if data.shape[axes.index("T")] > 1:
            raise BadInputError(f"{name} is a time series (axes {axes}); save one time point as a Z stack")
        data, axes = data[(slice(None),) * axes.index("T") + (0,)], axes.replace("T", "")
    if "C" not in axes:
        data, axes = data[None], "C" + axes
    return order_czyx(data, axes, name, channel)


def _metadata(name: str, voxel_size: Sequence[float] | None, origin: Sequence[float] | None, labels: bool) -> dict:
    axes = [{"name": "c", "type": "channel"}]
    axes += [{"name": a, "type": "space", "unit": "micrometer"} for a in "zyx"]
    transforms = [{"type": "scale", "scale": [1.0, *(voxel_size or (1.0, 1.0, 1.0))]}]
    if origin is not None:
        transforms.append({"type": "translation", "translation": [0.0, *map(float, origin)]})
    dataset = {"path": "0", "coordinateTransformations": transforms}
    metadata = {"version": NGFF_VERSION, "multiscales": [{"name": name, "axes": axes, "datasets": [dataset]}]}
    if labels:
        metadata["image-label"] = {"version": NGFF_VERSION}
    return metadata


def default_chunks(shape: Sequence[int]) -> tuple[int, ...]:
    """One channel, up to 32 x 256 x 256 voxels per chunk."""
    return (1, *(min(s, c) for s, c in zip(shape[1:], (32, 256, 256))))


@contextmanager
def ome_zarr_output(
    path: str | os.PathLike,
    shape: Sequence[int],
    dtype,
    voxel_size: Sequence[float] | None,
    chunks: Sequence[int] | None = None,
    origin: Sequence[float] | None = None,
    labels: bool = False,
    provenance: Mapping | None = None,
) -> Iterator[zarr.Array]:
    """A zero-filled ``(C, Z, Y, X)`` zarr array to fill; it appears at ``path`` as OME-Zarr
    only when the block exits without error. ``origin``: the first voxel's position (z, y, x,
    um); ``labels`` marks it as a label image (NGFF ``image-label``); ``provenance``: what
    made it (attribute ``bright4b_provenance``)."""
    path = Path(path)
    with atomic_directory(path) as tmp:
        group = zarr.open_group(store=str(tmp), mode="w", zarr_format=3)
        group.attrs["ome"] = _metadata(path.stem, voxel_size, origin, labels)
        if provenance:
            group.attrs[PROVENANCE_KEY] = dict(provenance)
        yield group.create_array(
            "0",
            shape=tuple(shape),
            dtype=np.dtype(dtype),
            chunks=tuple(chunks or default_chunks(shape)),
            fill_value=0,
            dimension_names=["c", "z", "y", "x"],
        )


def write_ome_zarr(path: str | os.PathLike, data: np.ndarray, voxel_size: Sequence[float] | None, **meta) -> Path:
    """Write ``(Z, Y, X)`` or ``(C, Z, Y, X)`` as OME-Zarr, atomically; ``meta``: ``origin``,
    ``labels``, ``provenance`` as for :func:`ome_zarr_output`."""
    data = data[None] if data.ndim == 3 else data
    if data.ndim != 4:
        raise ValueError(f"expected (Z, Y, X) or (C, Z, Y, X) data, got shape {data.shape}")
    with ome_zarr_output(path, data.shape, data.dtype, voxel_size, **meta) as array:
        array[...] = data
    return Path(path)
