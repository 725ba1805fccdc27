"""A volume as read from disk."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import BadInputError


@dataclass
class Volume:
    """Image data ``(C, Z, Y, X)`` (NumPy, or a lazy dask array for OME-Zarr and large TIFFs),
    its voxel size ``(z, y, x)`` in micrometres and the position of its first voxel
    (``origin``, um) if the file records them, whether it holds labels, and what made it
    (``provenance``: the model and settings of the run that wrote it, if bright4b did)."""

    data: Any
    voxel_size: tuple[float, float, float] | None
    origin: tuple[float, float, float] | None = None
    labels: bool = False
    provenance: dict | None = None


def order_czyx(data, axes: str, name: str, channel: int | None):
    """``data`` with named ``axes`` (a permutation of CZYX) as ``(C, Z, Y, X)``, optionally one
    ``channel`` (kept as a length-1 axis). Works on NumPy and dask arrays alike."""
    if sorted(axes) != sorted("CZYX"):
        raise BadInputError(
            f"{name} has axes {axes}; expected (C,)Z,Y,X. If its metadata is wrong, name the stored axes "
            f"with --axes (e.g. --axes {'ZYX' if len(axes) == 3 else 'ZCYX'})"
        )
    data = np.moveaxis(data, [axes.index(a) for a in "CZYX"], range(4))
    if channel is not None:
        if not 0 <= channel < data.shape[0]:
            raise BadInputError(f"{name} has {data.shape[0]} channel(s); --channel must be 0..{data.shape[0] - 1}")
        data = data[channel : channel + 1]
    return data


def overridden_axes(axes: str, shape: tuple[int, ...], name: str) -> str:
    """The user's ``axes`` for an array of ``shape``, checked: one letter per dimension, each of
    C, Z, Y, X at most once (singleton dimensions may be named T)."""
    axes = axes.upper()
    if len(axes) != len(shape) or len(set(axes)) != len(axes) or not set(axes) <= set("CZYXT"):
        raise BadInputError(
            f"--axes {axes} does not fit {name}, whose stored array has shape {tuple(shape)}: give one letter "
            f"per dimension from C, Z, Y, X (e.g. {'ZYX' if len(shape) == 3 else 'ZCYX'})"
        )
    return axes


class _CheckedReads:
    """An on-disk array, opened by ``open_array()`` on first read in each process (so that it
    pickles to Dask workers without an open file), whose failed reads (a damaged chunk or
    page) raise a clear error."""

    def __init__(self, open_array: Callable[[], object], name: str, shape, dtype):
        self.open_array, self.name, self._array = open_array, name, None
        self.shape, self.dtype, self.ndim = tuple(shape), np.dtype(dtype), len(shape)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_array": None}

    def __getitem__(self, key):
        try:
            if self._array is None:
                self._array = self.open_array()
            return np.asarray(self._array[key])
        except Exception as err:  # the codec's or the store's own error, whatever its kind
            raise BadInputError(
                f"{self.name} is damaged: its data at {key} cannot be read ({type(err).__name__}: {err})"
            ) from None


def lazy_array(open_array: Callable[[], object], name: str, shape, dtype, chunks):
    """A dask array over the on-disk array that the picklable ``open_array()`` opens (zarr,
    tifffile's zarr store, a NIfTI proxy), read in ``chunks``; a read that fails raises
    :class:`BadInputError` naming file ``name``."""
    import dask.array as da

    return da.from_array(_CheckedReads(open_array, name, shape, dtype), chunks=chunks, asarray=False, fancy=False)
