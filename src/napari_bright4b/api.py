"""The Python API: one call runs a model over an image, from an array or a file.

```python
import napari_bright4b as b4

result = b4.segment("stack.tif", model="bright4b-nano-organelles")
result.structures[0].labels  # (Z, Y, X) on the input's grid; result.voxel_size in um
```

An ``image`` is a ``(Z, Y, X)`` or ``(C, Z, Y, X)`` array (never modified) or the path of a
TIFF, OME-TIFF or OME-Zarr file; ``voxel_size`` is ``(z, y, x)`` in micrometres: given, else
the file's, else the model's (with a warning). Each call holds its model in one
:class:`~.models.session.ModelSession`, released when the call returns or raises. The CLI and
the napari widgets run the same functions underneath.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np

from .analysis.inspection import Inspection, inspect_job
from .data.io import read_image
from .data.volume import order_czyx
from .errors import BadInputError
from .inference.engine import CancelToken, Progress
from .inference.job import Labelling, Result, run_job
from .inference.resample import check_voxel_size
from .models.session import ModelSession, PresetWarning, load_model
from .training.finetune import FinetuneResult, FinetuneSettings
from .training.finetune import finetune as finetune_network
from .training.finetune.instant import InstantResult, instant_segment

__all__ = [
    "ModelSession",
    "PresetWarning",
    "classify",
    "deblur",
    "finetune",
    "inspect",
    "load_model",
    "segment",
]

Image = np.ndarray | str | os.PathLike


def _image(image: Image, voxel_size, channel: int | None = None, axes: str | None = None):
    """``(data (C, Z, Y, X), voxel size or None)`` of an array or a file."""
    if isinstance(image, (str, os.PathLike)):
        volume = read_image(image, channel, axes)
        data, recorded = volume.data, volume.voxel_size
    else:
        if getattr(image, "ndim", None) not in (3, 4):
            raise BadInputError(
                f"an image must be a (Z, Y, X) or (C, Z, Y, X) array or a file path, got {type(image).__name__}"
                + (f" of shape {tuple(image.shape)}" if hasattr(image, "shape") else "")
            )
        data = order_czyx(image[None] if image.ndim == 3 else image, "CZYX", "the image", channel)
        recorded = None
    chosen = voxel_size if voxel_size is not None else recorded
    return data, (check_voxel_size(chosen) if chosen is not None else None)


def _run(
    task: str,
    image: Image,
    model: str | os.PathLike,
    *,
    voxel_size: Sequence[float] | None = None,
    channel: int | None = None,
    axes: str | None = None,
    labelling: Labelling | None = None,
    device: str = "auto",
    tile: Sequence[int] | None = None,
    overlap: float = 0.25,
    views: int | None = None,
    psf: np.ndarray | None = None,
    psf_sigma: Sequence[float] | None = None,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> Result:
    data, voxel_size = _image(image, voxel_size, channel, axes)
    psfs = dict(psf=psf, psf_sigma=psf_sigma)
    options = dict(tile=tile, overlap=overlap, views=views, **psfs, progress=progress, cancel=cancel)
    return run_job(model, data, voxel_size, task=task, device=device, labelling=labelling, **options)


def segment(image: Image, model: str | os.PathLike = "bright4b-nano-organelles", **options) -> Result:
    """Segment ``image`` with ``model``: ``result.maps (K, Z, Y, X)`` class probabilities and
    ``result.structures``, one mask or instance labelling per class.

    Keyword options (all calls): ``voxel_size`` (z, y, x, um), ``channel`` (of a
    multi-channel image), ``axes`` (the stored axes, overriding a file's metadata),
    ``device`` (``auto``, ``cpu``, ``cuda[:N]``, ``mps``), ``tile`` (z, y, x voxels),
    ``overlap`` (fraction), ``views`` (1, 2, 4, 8), ``progress(done, total)``, ``cancel``
    (a :class:`CancelToken`); here also ``labelling`` (:class:`Labelling`: threshold,
    instances, split touching objects)."""
    return _run("segment", image, model, **options)


def deblur(image: Image, model: str | os.PathLike = "bright4b-nano-deblur", **options) -> Result:
    """Deblur ``image`` with ``model``: ``result.maps (1, Z, Y, X)`` in the input's units
    (options as for :func:`segment`, without ``labelling``; here also ``psf (dz, dy, dx)`` on
    the image's grid or ``psf_sigma`` (a Gaussian's, z, y, x um), which a model that refines
    Richardson-Lucy needs, such as ``bright4b-nano-deblur-rl``). docs/inference.md compares the
    models with Richardson-Lucy alone (:func:`~.inference.deconvolution.deconvolve`) on data
    this project did not make."""
    return _run("deblur", image, model, **options)


def classify(image: Image, model: str | os.PathLike = "bright4b-nano-stain", **options) -> Result:
    """Classify ``image`` with ``model``: ``result.volume_probabilities (K,)`` over
    ``result.class_names`` and ``result.class_map (Z, Y, X)`` (most probable class + 1)
    (options as for :func:`segment`, without ``labelling``)."""
    return _run("classify", image, model, **options)


def inspect(
    image: Image,
    model: str | os.PathLike = "bright4b-nano-organelles",
    *,
    voxel_size: Sequence[float] | None = None,
    channel: int | None = None,
    axes: str | None = None,
    device: str = "auto",
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
    **options,
) -> Inspection:
    """What ``model`` does inside on ``image``: routing entropy, expert usage, attention path
    gates and PCA colours of token features on the token grid (``options`` as for
    :func:`~.analysis.inspection.inspect_volume`)."""
    data, voxel_size = _image(image, voxel_size, channel, axes)
    return inspect_job(model, data, voxel_size, device=device, progress=progress, cancel=cancel, **options)


def finetune(
    image: Image,
    strokes: np.ndarray,
    model: str | os.PathLike = "bright4b-nano-organelles",
    *,
    mode: str = "instant",
    voxel_size: Sequence[float] | None = None,
    channel: int | None = None,
    axes: str | None = None,
    names: Mapping[int, str] | None = None,
    out: str | os.PathLike | None = None,
    device: str = "auto",
    time_budget_s: float = 60.0,
    progress=None,
    cancel: CancelToken | None = None,
) -> InstantResult | FinetuneResult:
    """Learn from ``strokes (Z, Y, X)`` painted over ``image`` (0 = not painted, 1 = background,
    2, 3, ... = classes; ``names`` maps values to class names). ``mode="instant"``: a
    classifier on per-voxel features (``result.labels``, ``result.uncertainty``;
    ``result.model.save(path)``); ``"full"``, ``"adapter"`` or ``"head"``: the network trains for
    ``time_budget_s`` seconds and is saved to ``out`` (default: the user's model folder)."""
    data, voxel_size = _image(image, voxel_size, channel, axes)
    if voxel_size is None:
        raise BadInputError("fine-tuning needs the image's voxel size: pass voxel_size=(z, y, x) in um")
    strokes, base = np.asarray(strokes), os.fspath(model)
    if mode == "instant":
        return instant_segment(data, voxel_size, strokes, base, names=names, progress=progress, cancel=cancel)
    settings = FinetuneSettings(mode=mode, time_budget_s=time_budget_s)
    options = dict(names=names, settings=settings, out=out, device=device, progress=progress, cancel=cancel)
    return finetune_network(data, voxel_size, strokes, base, **options)
