"""NIfTI in (``.nii``, ``.nii.gz``): the light-sheet paper's format, read through nibabel.

A NIfTI array is stored ``(X, Y, Z[, T])`` with the voxel size in its header's zooms and
spatial unit (mm, micron or metre); it is read as ``(C, Z, Y, X)`` with the voxel size in
micrometres (none when the unit is "unknown": no guess), and its origin from an
axis-aligned affine. Uncompressed files over :data:`~.tiff.LAZY_BYTES` are read lazily.
"""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path

import numpy as np

from ..errors import BadInputError
from .tiff import LAZY_BYTES
from .units import um_per_unit
from .volume import Volume, lazy_array, order_czyx, overridden_axes

SUFFIXES = (".nii", ".nii.gz")
NIFTI_UNITS = {"mm": "mm", "micron": "um", "meter": "m"}  # nibabel's names -> ours


def is_nifti(path: str | os.PathLike) -> bool:
    return Path(path).name.lower().endswith(SUFFIXES)


def _voxel_size(header) -> tuple[float, float, float] | None:
    unit = NIFTI_UNITS.get(header.get_xyzt_units()[0])
    zooms = header.get_zooms()
    if unit is None or len(zooms) < 3 or not all(z > 0 for z in zooms[:3]):
        return None
    scale = um_per_unit(unit)
    return (float(zooms[2]) * scale, float(zooms[1]) * scale, float(zooms[0]) * scale)


def _origin(affine: np.ndarray, header) -> tuple[float, float, float] | None:
    """The first voxel's position (z, y, x, um) when the affine only scales and shifts."""
    unit = NIFTI_UNITS.get(header.get_xyzt_units()[0])
    linear = affine[:3, :3]
    if unit is None or not np.allclose(linear, np.diag(np.diag(linear))):
        return None
    scale = um_per_unit(unit)
    return tuple(float(affine[axis, 3]) * scale for axis in (2, 1, 0))


def open_nifti(path: str):
    """The voxel data of the NIfTI at ``path``, as nibabel's lazy array proxy."""
    import nibabel

    return nibabel.load(path).dataobj


def read_nifti(path: str | os.PathLike, channel: int | None = None, axes: str | None = None) -> Volume:
    """Read a 3D NIfTI (or 4D with one time point) as ``(1, Z, Y, X)``; ``axes`` names the
    stored axes instead (e.g. ``"XYZC"`` for channels in the 4th dimension)."""
    import nibabel

    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"{path} does not exist")
    try:
        image = nibabel.load(path)
        proxy = image.dataobj
        shape = tuple(image.shape)
    except Exception as err:  # nibabel's and the file system's many errors for a damaged header
        raise BadInputError(f"{path.name} could not be read as NIfTI: {err}") from None
    stored = overridden_axes(axes, shape, path.name) if axes else "XYZT"[: len(shape)]
    if "T" in stored and shape[stored.index("T")] > 1:
        raise BadInputError(
            f"{path.name} is a time series ({shape[stored.index('T')]} time points); save one, or read its 4th "
            "dimension as channels with --axes XYZC"
        )
    if len(shape) > 4:
        raise BadInputError(f"{path.name} has {len(shape)} dimensions {shape}; a 3D (or 3D + 1) volume is needed")
    dtype = image.get_data_dtype()
    if int(np.prod(shape)) * dtype.itemsize > LAZY_BYTES and not path.name.lower().endswith(".gz"):
        data = lazy_array(partial(open_nifti, str(path)), path.name, shape, dtype, (*shape[:2], 1, *shape[3:]))
    else:
        try:
            data = np.asanyarray(proxy)
        except Exception as err:  # truncated or damaged data: EOFError, OSError, zlib errors...
            raise BadInputError(
                f"{path.name} is damaged: its data cannot be read ({type(err).__name__}: {err})"
            ) from None
    if "T" in stored:
        index = stored.index("T")
        data, stored = data[(slice(None),) * index + (0,)], stored.replace("T", "")
    if "C" not in stored:
        data, stored = data[None], "C" + stored
    header = image.header
    volume = order_czyx(data, stored, path.name, channel)
    return Volume(volume, _voxel_size(header), _origin(image.affine, header))
