"""Read and write images by file type: TIFF/OME-TIFF or OME-Zarr, chosen by the path."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..errors import BadInputError
from .bioio_reader import EXTRA, read_bioio
from .nifti import is_nifti, read_nifti
from .ome_zarr import is_zarr, ome_zarr_output, read_ome_zarr, write_ome_zarr
from .tiff import SUFFIXES as TIFF_SUFFIXES
from .tiff import read_tiff, write_tiff
from .volume import Volume

FORMATS = "TIFF (.tif, .tiff, .ome.tif) or OME-Zarr (.zarr, .ome.zarr)"
BIOIO_SUFFIXES = (".czi", ".nd2", ".lif")  # through bioio, an optional extra
READ_FORMATS = f"{FORMATS}, NIfTI (.nii, .nii.gz), or CZI, ND2 and LIF with bioio ({EXTRA})"


def check_output_path(path: str | os.PathLike) -> Path:
    """Refuse an output path whose type we cannot write, before any work is done."""
    path = Path(path)
    if path.suffix.lower() not in (*TIFF_SUFFIXES, ".zarr"):
        raise BadInputError(f"cannot write {path.name}: the output must be {FORMATS}")
    if path.exists() and path.is_dir() != (path.suffix.lower() == ".zarr"):
        raise BadInputError(f"cannot write {path}: something of another kind is already there")
    return path


def read_image(path: str | os.PathLike, channel: int | None = None, axes: str | None = None) -> Volume:
    """``(C, Z, Y, X)`` and the voxel size (um) from a TIFF, OME-Zarr or NIfTI; ``axes`` (e.g.
    ``"ZYX"``, ``"ZCYX"``) names the stored array's axes instead of its metadata."""
    path = Path(path)
    if not path.exists():
        raise BadInputError(f"{path} does not exist")
    if is_zarr(path):
        return read_ome_zarr(path, channel, axes)
    if path.suffix.lower() in TIFF_SUFFIXES:
        return read_tiff(path, channel, axes)
    if is_nifti(path):
        return read_nifti(path, channel, axes)
    if path.suffix.lower() in BIOIO_SUFFIXES:
        return read_bioio(path, channel, axes)
    raise BadInputError(f"{path.name}: unsupported file type; use {READ_FORMATS}")


def write_image(
    path: str | os.PathLike,
    data: np.ndarray,
    voxel_size: Sequence[float] | None,
    origin: Sequence[float] | None = None,
    labels: bool = False,
    provenance: Mapping | None = None,
) -> Path:
    """Write ``(Z, Y, X)`` or ``(C, Z, Y, X)`` atomically, with the voxel size (z, y, x, um);
    ``labels`` marks a label image, ``provenance`` records what made it (model, settings).
    OME-Zarr also keeps ``origin`` (the first voxel's position, um), which TIFF has no
    standard place for."""
    path = check_output_path(path)
    if path.suffix.lower() == ".zarr":
        return write_ome_zarr(path, data, voxel_size, origin=origin, labels=labels, provenance=provenance)
    return write_tiff(path, data, voxel_size, labels, provenance)


@contextmanager
def image_output(
    path: str | os.PathLike,
    shape: Sequence[int],
    dtype,
    voxel_size: Sequence[float] | None,
    provenance: Mapping | None = None,
) -> Iterator[object]:
    """A zero-filled ``(C, Z, Y, X)`` array to fill, saved to ``path`` only if the block succeeds.

    OME-Zarr outputs are zarr arrays on disk (for volumes larger than RAM); TIFF outputs
    are NumPy arrays written when the block ends.
    """
    path = check_output_path(path)
    if path.suffix.lower() == ".zarr":
        with ome_zarr_output(path, shape, dtype, voxel_size, provenance=provenance) as array:
            yield array
        return
    array = np.zeros(tuple(shape), dtype=dtype)
    yield array
    write_tiff(path, array[0] if array.shape[0] == 1 else array, voxel_size, provenance=provenance)
