"""Run a model patch by patch over a whole volume, with progress and cancel.

Memory stays bounded by one batch of tiles plus the output and weight arrays; the
output can be any array that supports slice assignment (NumPy, or a zarr array for
volumes larger than RAM).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import numpy as np
import torch

from .tiling import TileGrid

Predict = Callable[[torch.Tensor], torch.Tensor]
Progress = Callable[[int, int], None]


class Cancelled(Exception):
    """The run was cancelled; nothing was returned or written."""


class CancelToken:
    """Thread-safe cancel flag, checked between tile batches."""

    def __init__(self):
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()


def predict_tiled(
    predict: Predict,
    volume: np.ndarray,
    channels_out: int,
    tile: Sequence[int],
    overlap: float = 0.25,
    batch_size: int = 1,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> np.ndarray:
    """Blend ``predict`` over ``volume (C, Z, Y, X)`` into ``(channels_out, Z, Y, X)`` float32.

    ``predict`` maps a batch ``(B, C, z, y, x)`` to ``(B, channels_out, z, y, x)``.
    ``progress(done, total)`` is called after each batch of tiles; ``cancel`` is checked
    before each batch, and a cancelled run raises :class:`Cancelled`.
    """
    if volume.ndim != 4:
        raise ValueError(f"expected a (C, Z, Y, X) volume, got shape {volume.shape}")
    grid = TileGrid(tuple(volume.shape[1:]), tuple(tile), overlap)
    windows = list(grid)
    out = np.zeros((channels_out, *volume.shape[1:]), dtype=np.float32)
    total_weight = np.zeros(volume.shape[1:], dtype=np.float32)
    for start in range(0, len(windows), batch_size):
        if cancel is not None and cancel.cancelled:
            raise Cancelled("cancelled")
        batch = windows[start : start + batch_size]
        tiles = np.stack([volume[(slice(None), *w)] for w in batch])
        with torch.no_grad():
            result = predict(torch.from_numpy(tiles).to(device=device, dtype=dtype)).float().cpu().numpy()
        for window, prediction in zip(batch, result):
            weight = grid.weight(window)
            out[(slice(None), *window)] += prediction * weight
            total_weight[window] += weight
        if progress is not None:
            progress(min(start + batch_size, len(windows)), len(windows))
    out /= total_weight
    return out
