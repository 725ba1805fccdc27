"""Scale-out over a Dask cluster: the same engine, chunk by chunk, with ``map_overlap``.

Each chunk receives a halo of one tile and computes its core from the *whole volume's*
tiling (the tiles that touch the core), so the result equals the single-process engine
exactly whatever the chunking; tiles that straddle a chunk face are computed by both
chunks. A volume at another voxel size is normalized and resampled to the model's grid
inside the graph (:func:`.resample.resize_lazy`, chunk by chunk), and the probabilities
back, as the single-process engine does it whole. Intensity percentiles are taken once,
globally. Each worker process loads the
model once and keeps it. Instance ids are made global and stitched across chunk faces by
``dask_image.ndmeasure.label``.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import dask.array as da
import numpy as np

from ..errors import BadInputError
from .normalize import Normalizer, percentile_range
from .resample import resize_lazy, target_shape

_LOAD_LOCK = threading.Lock()


@lru_cache(maxsize=4)
def _cached_session(spec: str, device: str):
    from ..models.session import ModelSession  # imported on the worker

    return ModelSession(spec, device)


def worker_model(spec: str, device: str):
    """The model and card for ``spec`` on ``device``, loaded once per process and kept."""
    with _LOAD_LOCK:
        session = _cached_session(spec, device)
        return session.model, session.card


class GlobalView:
    """A chunk plus halo ``(C, z, y, x)`` seen in the whole volume's coordinates."""

    def __init__(self, block: np.ndarray, offset: Sequence[int], shape: Sequence[int]):
        self.block, self.offset, self.shape = block, tuple(offset), (block.shape[0], *shape)

    def __getitem__(self, key):
        channel, *spatial = key
        local = [slice(s.start - o, s.stop - o) for s, o in zip(spatial, self.offset)]
        if any(sl.start < 0 or sl.stop > n for sl, n in zip(local, self.block.shape[1:])):
            raise IndexError(f"tile {spatial} lies outside the chunk's halo")
        return self.block[(channel, *local)]


def chunk_spec(shape: Sequence[int], tile: Sequence[int], tiles_per_chunk: int = 4) -> tuple[int, ...]:
    """Chunks ``(C, z, y, x)`` of ``tiles_per_chunk`` tiles per axis (the halo is one tile)."""
    return (shape[0], *(min(n, t * tiles_per_chunk) for n, t in zip(shape[1:], tile)))


def halo_safe_chunks(shape: Sequence[int], chunks: Sequence[int], tile: Sequence[int]) -> tuple[tuple[int, ...], ...]:
    """Regular ``(z, y, x)`` chunks whose last chunk absorbs a remainder shorter than the chunk,
    so every chunk is at least one tile (the halo) long and starts on a multiple of ``chunks``."""
    out = []
    for n, c, t in zip(shape, chunks, tile):
        if c < min(t, n):
            raise BadInputError(
                f"Dask chunks must be at least one tile long, got {tuple(chunks)} for tile {tuple(tile)}"
            )
        count = max(1, n // c)
        out.append((c,) * (count - 1) + (n - c * (count - 1),))
    return tuple(out)


def predict_dask(
    spec: str,
    volume: da.Array,
    channels_out: int,
    tile: Sequence[int],
    overlap: float,
    normalization: dict,
    device: str = "cpu",
    chunks: Sequence[int] | None = None,
    views: int | None = None,
    intensity_range: tuple[float, float] | None = None,
) -> da.Array:
    """A lazy ``(channels_out, Z, Y, X)`` float32 prediction of model ``spec`` over ``volume``.

    The volume must be at the model's voxel size; ``tile`` is clipped to the volume;
    ``chunks`` ``(C, z, y, x)`` defaults to :func:`chunk_spec`; ``views`` to the card's;
    ``intensity_range`` to the ``normalization`` percentiles of the volume.
    """
    from .predict import run_model

    shape = volume.shape[1:]
    tile = tuple(min(t, n) for t, n in zip(tile, shape))
    spatial = (chunks or chunk_spec(volume.shape, tile))[1:]
    volume = volume.rechunk(((volume.shape[0],), *halo_safe_chunks(shape, spatial, tile)))
    intensity_range = intensity_range or percentile_range(volume, normalization["low"], normalization["high"])
    depth = {0: 0, 1: tile[0], 2: tile[1], 3: tile[2]}
    halo_chunks = [(channels_out,)] + [
        tuple(min(n, start + c + t) - max(0, start - t) for start, c in zip(np.cumsum((0,) + cs[:-1]), cs))
        for cs, t, n in zip(volume.chunks[1:], tile, shape)
    ]

    def run_chunk(block: np.ndarray, block_info=None) -> np.ndarray:
        location = block_info[None]["chunk-location"][1:]
        core = [int(sum(cs[:i])) for cs, i in zip(volume.chunks[1:], location)]
        region = tuple(slice(a, a + cs[i]) for a, cs, i in zip(core, volume.chunks[1:], location))
        offset = [max(0, a - t) for a, t in zip(core, tile)]
        model, card = worker_model(spec, device)
        result = np.zeros((channels_out, *block.shape[1:]), np.float32)
        inner = tuple(slice(r.start - o, r.stop - o) for r, o in zip(region, offset))
        result[(slice(None), *inner)] = run_model(
            model,
            card,
            GlobalView(block, offset, shape),
            tile=tile,
            overlap=overlap,
            views=views,
            intensity_range=intensity_range,
            region=region,
        )
        return result

    return da.map_overlap(
        run_chunk, volume, depth=depth, boundary="none", trim=True, dtype=np.float32, chunks=tuple(halo_chunks)
    )


def on_model_grid(volume: da.Array, voxel_size: Sequence[float], card) -> tuple[da.Array, tuple | None]:
    """``volume`` as the single-process engine feeds the model: unchanged at the model's voxel
    size, else normalized by its percentiles and resampled lazily to the model's grid (then
    the returned intensity range, ``(0, 1)``, leaves it as it is)."""
    shape = target_shape(volume.shape[1:], voxel_size, card.voxel_size)
    if shape == tuple(volume.shape[1:]):
        return volume, None
    normalizer = Normalizer(*percentile_range(volume, card.normalization["low"], card.normalization["high"]))
    return resize_lazy(volume.map_blocks(normalizer, dtype=np.float32), shape), (0.0, 1.0)


def label_dask(mask: da.Array) -> da.Array:
    """Connected components of a lazy ``(Z, Y, X)`` mask, ids ``1..n`` unique across chunks."""
    from dask_image.ndmeasure import label

    structure = np.zeros((3, 3, 3), bool)
    structure[1, 1, :] = structure[1, :, 1] = structure[:, 1, 1] = True  # faces only, as in the single process
    labels, _ = label(mask, structure=structure)
    return labels.astype(np.uint32)


@contextmanager
def _connected(scheduler: str | None) -> Iterator:
    """A Dask client of the scheduler at ``scheduler``, else of a two-worker local cluster;
    both closed afterwards."""
    from distributed import Client, LocalCluster

    if not scheduler:
        with (
            LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster,
            Client(cluster) as client,
        ):
            yield client
        return
    try:
        client = Client(scheduler, timeout="10s")
    except OSError as err:
        raise BadInputError(f"cannot reach the Dask scheduler at {scheduler}: {err}") from None
    with client:
        yield client


def segment_dask(
    spec: str,
    card,
    volume: da.Array,
    voxel_size: Sequence[float],
    output: str,
    *,
    prob_path: str | None = None,
    threshold: str | float = "model",
    labels: bool = False,
    tile: Sequence[int] | None = None,
    overlap: float = 0.25,
    views: int | None = None,
    scheduler: str | None = None,
    device: str = "cpu",
    chunks: Sequence[int] | None = None,
) -> dict:
    """Segment ``volume (C, Z, Y, X)`` on a Dask cluster into OME-Zarr masks or global instance labels.

    Probabilities are written first (to ``prob_path``, or a scratch folder removed after),
    so an Otsu threshold sees the whole volume; then masks or labels are computed from them.
    ``threshold``: ``"model"``, ``"otsu"`` or a number (:mod:`.postprocess`).
    """
    from .postprocess import class_thresholds, threshold_value
    from .predict import model_tile

    if card.head.activation == "softmax":
        raise BadInputError("--dask supports sigmoid (per-structure) models; run softmax models without --dask")
    volume = da.asarray(volume)
    tile = model_tile(card, tile)
    names = list(card.head.class_names)
    chunks = (1, *(chunks or chunk_spec(volume.shape, tile)[1:]))  # zarr chunks = dask chunks
    with _connected(scheduler) as client, tempfile.TemporaryDirectory(dir=Path(output).parent) as scratch:
        probabilities = _probabilities(spec, card, volume, voxel_size, tile, overlap, views, device, chunks)
        stored = _stored(probabilities, prob_path or os.path.join(scratch, "probabilities.zarr"), voxel_size, chunks)
        cuts = [
            threshold_value(stored[k], t) for k, t in enumerate(class_thresholds(threshold, names, card.thresholds))
        ]
        result: dict = {"thresholds": dict(zip(names, cuts)), "outputs": {"instances" if labels else "masks": output}}
        counts = _write_labels(stored, cuts, output, voxel_size, chunks, labels)
        if labels:
            result["instances"] = dict(zip(names, counts))
        if prob_path:
            result["outputs"]["probabilities"] = prob_path
        result["dask"] = {"workers": len(client.scheduler_info()["workers"]), "chunks": list(chunks[1:])}
        return result


def _probabilities(spec, card, volume, voxel_size, tile, overlap, views, device, chunks) -> da.Array:
    """Lazy ``(K, Z, Y, X)`` float32 probabilities of ``volume`` at ``voxel_size`` (z, y, x, um),
    in ``chunks`` ``(1, z, y, x)``: predicted on the model's grid (resampled inside the graph
    when the voxel sizes differ, in chunks of :func:`chunk_spec`) and resampled back."""
    grid, intensity_range = on_model_grid(volume, voxel_size, card)
    grid_chunks = (grid.shape[0], *(chunks if grid is volume else chunk_spec(grid.shape, tile))[1:])
    classes = len(card.head.class_names)
    norm = card.normalization
    probabilities = predict_dask(spec, grid, classes, tile, overlap, norm, device, grid_chunks, views, intensity_range)
    if grid is volume:
        return probabilities
    return resize_lazy(probabilities, volume.shape[1:]).rechunk(chunks)


def _stored(probabilities: da.Array, path: str, voxel_size: Sequence[float], chunks: Sequence[int]) -> da.Array:
    """``probabilities`` computed into an OME-Zarr at ``path``, read back lazily."""
    from ..data.ome_zarr import ome_zarr_output, read_ome_zarr

    with ome_zarr_output(path, probabilities.shape, "float32", voxel_size, chunks) as target:
        da.store(probabilities, target, lock=False, compute=True)
    return read_ome_zarr(path).data


def _write_labels(stored: da.Array, cuts, output: str, voxel_size, chunks, labels: bool) -> list[int] | None:
    """Masks (uint8) of probabilities ``stored (K, Z, Y, X)`` over ``cuts`` (one per class), or
    their global instance labels (uint32) when ``labels``, into the OME-Zarr ``output`` in
    ``chunks``; the instance count of each class (``None`` for masks)."""
    from ..data.ome_zarr import ome_zarr_output

    dtype = "uint32" if labels else "uint8"
    with ome_zarr_output(output, stored.shape, dtype, voxel_size, chunks) as target:
        masks = [stored[k] > cut for k, cut in enumerate(cuts)]
        channels = [label_dask(m) if labels else m.astype(dtype) for m in masks]
        da.store(da.stack(channels).rechunk(chunks), target, lock=False, compute=True)
        return [int(da.from_zarr(target)[k].max()) for k in range(len(cuts))] if labels else None
