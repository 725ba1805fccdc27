"""A volume as read from disk."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import BadInputError


@dataclass
class Volume:
    """Image data ``(C, Z, Y, X)`` (NumPy, or a lazy dask array for OME-Zarr) and its voxel
    size ``(z, y, x)`` in micrometres, if the file records one."""

    data: Any
    voxel_size: tuple[float, float, float] | None


def order_czyx(data, axes: str, name: str, channel: int | None):
    """``data`` with named ``axes`` (a permutation of CZYX) as ``(C, Z, Y, X)``, optionally one
    ``channel`` (kept as a length-1 axis). Works on NumPy and dask arrays alike."""
    if sorted(axes) != sorted("CZYX"):
        raise BadInputError(f"{name} has axes {axes}; expected (C,)Z,Y,X")
    data = np.moveaxis(data, [axes.index(a) for a in "CZYX"], range(4))
    if channel is not None:
        if not 0 <= channel < data.shape[0]:
            raise BadInputError(f"{name} has {data.shape[0]} channel(s); --channel must be 0..{data.shape[0] - 1}")
        data = data[channel : channel + 1]
    return data
