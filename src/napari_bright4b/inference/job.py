"""One run of a model over one volume, as the napari widgets do it: load, run, label, free.

The same library calls as ``bright4b segment|deblur|classify`` (:func:`~.predict.run_model`,
:func:`~.postprocess.masks`, :func:`~.postprocess.instances`,
:func:`~.predict.volume_probabilities`). The model is loaded for the run and released
afterwards, so GPU memory is free again between runs. Labels can be made again from the
kept probabilities (:func:`relabel`) without running the model.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np

from ..errors import BadInputError
from ..models.registry import portable_name
from ..models.session import ModelSession
from .deconvolution import deblur_input, gaussian_psf
from .engine import CancelToken, Progress
from .estimate import TileCost, measure_tile
from .postprocess import class_thresholds, instances, masks
from .predict import model_tile, run_model, volume_probabilities


@dataclass(frozen=True)
class Labelling:
    """How probabilities become labels: ``threshold`` (``"model"``: the model's own cuts,
    Otsu where it has none; ``"otsu"``; or a number in (0, 1)),
    then masks, or ``instances`` (connected components; ``split_touching`` by a watershed
    with seeds at least ``min_radius_um`` apart)."""

    threshold: str | float = "model"
    instances: bool = False
    split_touching: bool = False
    min_radius_um: float = 2.0


@dataclass
class Structure:
    """One segmented structure: its probability ``channel``, its ``labels (Z, Y, X)`` (uint8
    mask or uint32 instances) and the threshold ``cut`` used (``None``: most probable class)."""

    name: str
    channel: int
    labels: np.ndarray
    cut: float | None

    @property
    def kind(self) -> str:
        """``"instances"`` (uint32 labels) or ``"mask"`` (uint8, 0 and 1)."""
        return "instances" if self.labels.dtype == np.uint32 else "mask"


@dataclass
class Result:
    """What one run made. ``maps (K, Z, Y, X)`` float32: per-class probabilities (segment,
    classify) or the deblurred image in the input's units (deblur), on the input's grid.
    ``exclusive``: softmax segmentation, whose channel 0 is the background."""

    model: str
    task: str
    class_names: tuple[str, ...]
    maps: np.ndarray
    exclusive: bool
    voxel_size: tuple[float, float, float]
    device: str
    tiles: int
    seconds: float
    structures: list[Structure] = field(default_factory=list)
    model_cuts: dict[str, float] = field(default_factory=dict)  # the card's per-class thresholds
    volume_probabilities: np.ndarray | None = None  # classify: (K,)
    class_map: np.ndarray | None = None  # classify: (Z, Y, X) uint8, most probable class + 1
    settings: dict = field(default_factory=dict)  # the run's options, as a settings file names them

    def class_masks(self) -> tuple[list[str], list[np.ndarray], list[np.ndarray]]:
        """Per class: names, probability ``(Z, Y, X)`` and mask ``(Z, Y, X)`` bool (none for deblur)."""
        if self.task == "segment":
            return (
                [s.name for s in self.structures],
                [self.maps[s.channel] for s in self.structures],
                [s.labels > 0 for s in self.structures],
            )
        if self.task == "classify":
            names = list(self.class_names)
            return names, list(self.maps), [self.class_map == k + 1 for k in range(len(names))]
        return [], [], []


def label_structures(
    probabilities: np.ndarray,
    class_names: Sequence[str],
    exclusive: bool,
    voxel_size: Sequence[float],
    labelling: Labelling,
    model_cuts: dict[str, float],
) -> list[Structure]:
    """Masks or instances per structure from probabilities ``(K, Z, Y, X)``, cut per class
    (``model_cuts`` resolve a ``"model"`` threshold); for exclusive (softmax) models every
    class but the background (channel 0), by the most probable class."""
    per_class = class_thresholds(labelling.threshold, class_names, model_cuts)
    found, cuts = masks(probabilities, per_class, exclusive=exclusive)
    if exclusive:
        channels = list(range(1, len(class_names)))
        per_structure = [found[0] == k for k in channels]
        cuts = [None] * len(channels)
    else:
        channels = list(range(len(class_names)))
        per_structure = list(found)
    structures = []
    for channel, mask, cut in zip(channels, per_structure, cuts):
        if labelling.instances:
            labels = instances(mask, voxel_size, labelling.split_touching, labelling.min_radius_um)
        else:
            labels = mask.astype(np.uint8, copy=False)
        structures.append(Structure(class_names[channel], channel, labels, cut))
    return structures


def relabel(result: Result, labelling: Labelling) -> Result:
    """A segmentation ``result`` with its structures labelled again from its probabilities."""
    structures = label_structures(
        result.maps, result.class_names, result.exclusive, result.voxel_size, labelling, result.model_cuts
    )
    return dataclasses.replace(result, structures=structures, settings=result.settings | labelling_settings(labelling))


def labelling_settings(labelling: Labelling) -> dict:
    """``labelling`` as a settings file names it (:mod:`..run_settings`)."""
    return {
        "threshold": labelling.threshold,
        "instances": labelling.instances,
        "split_touching": labelling.split_touching,
        "min_radius": labelling.min_radius_um,
    }


def run_job(
    spec: str | ModelSession,
    volume,
    voxel_size: Sequence[float],
    *,
    device: str = "auto",
    tile: Sequence[int] | None = None,
    overlap: float = 0.25,
    views: int | None = None,
    labelling: Labelling | None = None,
    task: str | None = None,
    psf: np.ndarray | None = None,
    psf_sigma: Sequence[float] | None = None,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> Result:
    """Run model ``spec`` (registry name or path, loaded for the run and released; or an open
    :class:`ModelSession`, kept open for the next run) over ``volume (C, Z, Y, X)`` at ``voxel_size``
    (z, y, x, um; ``None``: the model's, with a warning) on ``device`` (``views``: see
    :func:`~.predict.run_model`); with ``task`` set, a model of another task is refused. ``psf``
    or ``psf_sigma``: see :func:`_model_input`. The volume is never modified. Raises
    :class:`~..errors.Cancelled` when cancelled, :class:`BadInputError` for unusable input."""
    report = _CountingProgress(progress)
    started = time.perf_counter()
    given = isinstance(spec, ModelSession)
    with nullcontext(spec) if given else ModelSession(spec, device, task=task) as session:
        card = session.card
        voxel_size = _checked_voxel_size(card, volume, voxel_size, task if given else None)
        volume = _model_input(session, volume, voxel_size, psf, psf_sigma, report, cancel)
        maps = run_model(
            session.model, card, volume, voxel_size, tile, overlap, views=views, progress=report, cancel=cancel
        )
    result = Result(
        model=card.name,
        task=card.head.task,
        class_names=card.head.class_names,
        maps=maps,
        exclusive=card.head.task == "segment" and card.head.activation == "softmax",
        voxel_size=tuple(float(v) for v in voxel_size),
        device=str(session.device),
        tiles=report.total,
        seconds=time.perf_counter() - started,
        model_cuts=dict(card.thresholds),
        settings={
            "model": portable_name(session.spec),
            "tile": list(model_tile(card, tile)),
            "overlap": overlap,
            "views": views or card.views,
            "device": str(session.device) if given else device,
        },
    )
    if result.task == "segment":
        return relabel(result, labelling or Labelling())
    if result.task == "classify":
        result.volume_probabilities = volume_probabilities(maps)
        result.class_map = (np.argmax(maps, axis=0) + 1).astype(np.uint8)
    return result


class _CountingProgress:
    """A ``progress(done, total)`` callback that passes the report on and keeps the ``total``
    of tiles."""

    def __init__(self, progress: Progress | None):
        self.progress, self.total = progress, 0

    def __call__(self, done: int, total: int) -> None:
        self.total = total
        if self.progress is not None:
            self.progress(done, total)


def _model_input(session: ModelSession, volume, voxel_size, psf, sigma_um, report, cancel):
    """What the session's model reads of ``volume``: :func:`~.deconvolution.deblur_input` with
    the PSF ``psf`` (on the volume's grid) or a Gaussian's ``sigma_um`` (z, y, x), for a
    deblurring model that refines Richardson-Lucy; a PSF is refused for any other task."""
    card = session.card
    if sigma_um is not None:
        if psf is not None:
            raise BadInputError("give one PSF: psf (an array) or psf_sigma (um), not both")
        psf = gaussian_psf(sigma_um, voxel_size)
    if card.head.task != "deblur":
        if psf is not None:
            raise BadInputError(f"model {card.name!r} is a {card.head.task} model; a PSF is for deblurring")
        return volume
    return deblur_input(card, volume, psf, device=session.device, progress=report, cancel=cancel)


def _checked_voxel_size(card, volume, voxel_size: Sequence[float] | None, task: str | None) -> Sequence[float]:
    """``voxel_size`` (z, y, x, um), or the card's with a warning when ``None``, once a model of
    another ``task`` (if given) and a ``volume (C, Z, Y, X)`` of other channels are refused."""
    if task is not None and card.head.task != task:
        raise BadInputError(f"model {card.name!r} is a {card.head.task} model, not a {task} model")
    if voxel_size is None:
        voxel_size = card.voxel_size
        warnings.warn(f"no voxel size given: assuming the model's {tuple(card.voxel_size)} um", stacklevel=3)
    if volume.shape[0] != card.config.in_channels:
        raise BadInputError(
            f"model {card.name!r} reads {card.config.in_channels} channel(s), the image has {volume.shape[0]}"
        )
    return voxel_size


def time_tile(spec: str, device: str = "auto", tile: Sequence[int] | None = None) -> TileCost:
    """Load model ``spec`` on ``device``, time one tile (:func:`~.estimate.measure_tile`), release it."""
    with ModelSession(spec, device) as session:
        return measure_tile(session.model, session.card, tile)
