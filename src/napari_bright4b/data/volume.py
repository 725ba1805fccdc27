"""A volume as read from disk."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class Volume:
    """Image data ``(C, Z, Y, X)`` (NumPy, or a lazy dask array for OME-Zarr) and its voxel
    size ``(z, y, x)`` in micrometres, if the file records one."""

    data: Any
    voxel_size: tuple[float, float, float] | None
