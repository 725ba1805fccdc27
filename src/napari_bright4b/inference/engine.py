"""Run a model patch by patch over a whole volume, with progress, cancel and adaptive batches.

:func:`run_tiles` is the one tile loop: prediction (:func:`predict_tiled`, which blends
the tiles of :class:`~.tiling.TileGrid`), inspection (``analysis/inspection.py``, on its
token-aligned tiles) and the Dask path (one :func:`predict_tiled` region per chunk) all
run through it. Memory stays bounded by one batch of tiles plus the input and output
arrays. Input and output may be any arrays that support slicing (NumPy, zarr), so volumes
larger than RAM stream from disk to disk. Because the blending weights sum to one over
tiles, each tile is added to the output once and nothing else is kept.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from ..errors import Cancelled, OutOfMemory
from .tiling import TileGrid

Window = tuple[slice, slice, slice]
Predict = Callable[[torch.Tensor], torch.Tensor]
Prepare = Callable[[np.ndarray], np.ndarray]
Progress = Callable[[int, int], None]
Run = Callable[[torch.Tensor], Sequence[Any]]
Write = Callable[[int, Any], None]

_OOM_ERRORS = (getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError), MemoryError)
MAX_BATCH = 16


class CancelToken:
    """Thread-safe cancel flag, checked between tile batches."""

    def __init__(self):
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()


def _is_oom(err: BaseException) -> bool:
    return isinstance(err, _OOM_ERRORS) or (isinstance(err, RuntimeError) and "out of memory" in str(err))


def _free_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()


def fit_batch_size(device: torch.device, bytes_per_tile: int, tiles: int) -> int:
    """Tiles per batch that fit in 80% of the device's free memory (1 on CPU, where a bigger
    batch adds memory but no speed: the threads already share each tile)."""
    if device.type != "cuda" or bytes_per_tile <= 0:
        return 1
    free, _ = torch.cuda.mem_get_info(device)
    return int(max(1, min(MAX_BATCH, tiles, 0.8 * free // bytes_per_tile)))


def run_tiles(
    run: Run,
    volume,
    windows: Sequence[Window],
    write: Write,
    *,
    prepare: Prepare | None = None,
    batch_size: int | None = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> None:
    """The tile loop: read each window of ``volume (C, Z, Y, X)``, run it, and hand over the result.

    Windows (one slice per spatial axis, all the same size when batched) are read in order,
    ``prepare``-d (each raw tile ``(C, z, y, x)`` to the float32 the model reads; default a
    float32 copy) and stacked into a batch ``(B, C, z, y, x)`` on ``device`` as ``dtype``;
    ``run`` maps it, without autograd, to ``B`` per-tile results and ``write(index, result)``
    takes each (``index``: the tile's position in ``windows``). ``batch_size=None`` sizes
    batches from free memory (1 on CPU); on out-of-memory the batch is halved and retried,
    and :class:`OutOfMemory` is raised if one tile does not fit. ``progress(done, total)`` is
    called after each batch; ``cancel`` is checked before each one, and a cancelled run
    raises :class:`Cancelled`.
    """
    device = torch.device(device)
    prepare = prepare or (lambda raw: np.asarray(raw, dtype=np.float32))
    measure = batch_size is None and device.type == "cuda"  # size batches after one probe tile
    done, size, baseline = 0, batch_size or 1, 0
    while done < len(windows):
        if cancel is not None and cancel.cancelled:
            raise Cancelled("cancelled")
        batch = windows[done : done + size]
        try:
            if measure and done == 0:
                torch.cuda.reset_peak_memory_stats(device)
                baseline = torch.cuda.memory_allocated(device)
            tiles = np.stack([prepare(volume[(slice(None), *window)]) for window in batch])
            with torch.no_grad():
                results = run(torch.from_numpy(tiles).to(device=device, dtype=dtype))
        except Exception as err:
            if not _is_oom(err):
                raise
            del err  # drop the traceback's references to the failed batch before retrying
            _free_memory(device)
            size = _halved(size, batch[0], device)
            continue
        if measure and done == 0:
            size = fit_batch_size(device, torch.cuda.max_memory_allocated(device) - baseline, len(windows))
        for index, result in enumerate(results, done):
            write(index, result)
        done += len(batch)
        if progress is not None:
            progress(done, len(windows))


def _halved(size: int, window: Window, device: torch.device) -> int:
    """The batch size to retry with after running out of memory; none below one tile."""
    if size == 1:
        shape = "x".join(str(sl.stop - sl.start) for sl in window)
        raise OutOfMemory(f"out of memory on {device} with a single {shape} tile; use a smaller tile or another device")
    return size // 2


def predict_tiled(
    predict: Predict,
    volume,
    channels_out: int,
    tile: Sequence[int],
    overlap: float = 0.25,
    *,
    batch_size: int | None = None,
    prepare: Prepare | None = None,
    out=None,
    region: Sequence[slice] | None = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
):
    """Blend ``predict`` over ``volume (C, Z, Y, X)`` into ``(channels_out, *region shape)``.

    ``predict`` maps a batch ``(B, C, z, y, x)`` to ``(B, channels_out, z, y, x)`` over the
    tiles of :class:`~.tiling.TileGrid`, each weighted so the weights sum to one.
    ``region`` (default: everything) restricts the output to part of the volume, read
    from the whole volume's tiling, so regions computed apart agree with the whole.
    ``out`` is a zero-filled array of the output's shape (default: a new NumPy array).
    ``batch_size``, ``prepare``, ``device``, ``dtype``, ``progress`` and ``cancel`` are as for
    :func:`run_tiles`.
    """
    if len(volume.shape) != 4:
        raise ValueError(f"expected a (C, Z, Y, X) volume, got shape {volume.shape}")
    grid = TileGrid(tuple(volume.shape[1:]), tuple(tile), overlap)
    region = tuple(region or (slice(0, s) for s in grid.shape))
    if out is None:
        out = np.zeros((channels_out, *(r.stop - r.start for r in region)), dtype=np.float32)

    def run(batch: torch.Tensor) -> np.ndarray:
        return predict(batch).float().cpu().numpy()

    windows = grid.windows_in(region)

    def write(index: int, prediction: np.ndarray) -> None:
        _add_tile(out, prediction * grid.weight(windows[index]), windows[index], region)

    run_tiles(
        run,
        volume,
        windows,
        write,
        prepare=prepare,
        batch_size=batch_size,
        device=device,
        dtype=dtype,
        progress=progress,
        cancel=cancel,
    )
    return out


def _add_tile(out, weighted: np.ndarray, window: Sequence[slice], region: Sequence[slice]) -> None:
    """``out[region ∩ window] += weighted[region ∩ window]``, in the coordinates of each."""
    src, dst = [slice(None)], [slice(None)]
    for w, r in zip(window, region):
        lo, hi = max(w.start, r.start), min(w.stop, r.stop)
        src.append(slice(lo - w.start, hi - w.start))
        dst.append(slice(lo - r.start, hi - r.start))
    src, dst = tuple(src), tuple(dst)
    out[dst] = out[dst] + weighted[src]
