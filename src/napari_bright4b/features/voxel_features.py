"""Per-voxel features of one image, computed once and kept (in memory, or in a memory map on
disk for large volumes) while a classifier is refitted on them stroke after stroke.

Features: the classic filter bank (:mod:`.filter_bank`) of each normalized channel, then,
with a base model, the model's own features (:mod:`.model_features`), all on the image's
own grid, laid out ``(Z, Y, X, F)`` so that the rows of a slab are contiguous.
"""

from __future__ import annotations

import tempfile
import weakref
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from ..errors import BadInputError, Cancelled
from ..inference.engine import CancelToken, Progress
from ..inference.normalize import percentile_normalize
from ..inference.resample import check_voxel_size
from ..models.session import ModelSession
from .filter_bank import VOXEL_SCALES, default_sigmas, feature_names, filter_bank
from .model_features import model_feature_names, model_features

IN_MEMORY_BYTES = 2 << 30  # larger feature arrays live in a memory map in a temporary folder


@dataclass(frozen=True)
class FeatureSpec:
    """What :func:`compute_features` computes: the filter bank's ``voxel_scales`` scales on
    the voxel grid (1, 2, 4, ... voxels on every axis); with ``micrometre`` (off by default:
    measured on real and off-domain stacks it lowers instant mode below the forest on some,
    docs/finetune.md), its micrometre family too, at ``sigmas_um`` (empty: the default for
    the image's voxel size), ``axial`` times as wide along z; and with a ``base`` model
    (registry name or path) its features with ``components`` token principal components of
    ``layers``, averaged over ``views`` symmetric views (``None``: the base card's)."""

    sigmas_um: tuple[float, ...] = ()
    axial: float = 1.0
    voxel_scales: int = VOXEL_SCALES
    micrometre: bool = False
    base: str | None = None
    layers: tuple[int, ...] = (-1,)
    components: int = 6
    views: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> FeatureSpec:
        """The spec :meth:`to_dict` wrote (JSON lists back to tuples); one written before the
        voxel-grid scales existed has none, and one written before the micrometre family was
        optional has it."""
        data = {"voxel_scales": 0, "micrometre": True, **data}
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


@dataclass
class VoxelFeatures:
    """``array (Z, Y, X, F)`` float32 features named ``names``, of an image with voxel size
    ``voxel_size`` (z, y, x, um), as ``spec`` says; ``base_cuts`` are the base model's
    probability cut per class (from its card) for its ``p(class)`` features, in its order."""

    array: np.ndarray
    names: tuple[str, ...]
    voxel_size: tuple[float, float, float]
    spec: FeatureSpec
    base_cuts: dict[str, float] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.array.shape[:3])

    def slab(self, z: slice) -> np.ndarray:
        """Features ``(dz * Y * X, F)`` of slices ``z``."""
        return np.asarray(self.array[z], dtype=np.float32).reshape(-1, self.array.shape[-1])


def _allocate(shape: tuple[int, ...]) -> np.ndarray:
    """A zeroed float32 array: in memory, or a memory map removed with the array."""
    if np.prod(shape) * 4 <= IN_MEMORY_BYTES:
        return np.zeros(shape, np.float32)
    folder = tempfile.TemporaryDirectory(prefix="bright4b-features-")
    array = np.lib.format.open_memmap(f"{folder.name}/features.npy", "w+", np.float32, shape)
    weakref.finalize(array, folder.cleanup)
    return array


def compute_features(
    image: np.ndarray,
    voxel_size: Sequence[float],
    spec: FeatureSpec = FeatureSpec(),
    model=None,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> VoxelFeatures:
    """The features of ``image (C, Z, Y, X)`` with ``voxel_size`` (z, y, x, um) as ``spec``
    says; ``model`` is ``spec.base`` loaded, ``(model, card)``, if it is (else it is loaded
    for the call on the best device and released). ``progress(done, total)`` counts the
    channels' filter banks, then the model's features as one step; a cancel raises
    :class:`~..errors.Cancelled` between channels or between the model's tiles."""
    if spec.base is not None and model is None:
        with ModelSession(spec.base) as session:
            return compute_features(image, voxel_size, spec, (session.model, session.card), progress, cancel)
    voxel_size = check_voxel_size(voxel_size)
    if image.ndim != 4 or min(image.shape[1:]) < 2:
        raise BadInputError(
            f"features need an image (C, Z, Y, X) at least 2 voxels along z, y and x, got shape {tuple(image.shape)}"
        )
    sigmas = (spec.sigmas_um or default_sigmas(voxel_size)) if spec.micrometre else ()
    names = [
        f"{name} (channel {c})" if len(image) > 1 else name
        for c in range(len(image))
        for name in feature_names(sigmas, spec.voxel_scales)
    ]
    bank = len(names) // len(image)
    model_names: tuple = ()
    cuts: dict[str, float] = {}
    if spec.base is not None:
        model_names = model_feature_names(*model, spec.layers, spec.components)
        thresholds = model[1].thresholds
        cuts = {n: thresholds[n] for n in model[1].head.class_names if n in thresholds and f"p({n})" in model_names}
    array = _allocate((*image.shape[1:], len(names) + len(model_names)))
    for c, channel in enumerate(image):
        if cancel is not None and cancel.cancelled:
            raise Cancelled("cancelled")
        normalized = percentile_normalize(channel)
        filter_bank(
            normalized, voxel_size, sigmas, spec.axial, array[..., c * bank : (c + 1) * bank], spec.voxel_scales
        )
        if progress is not None:
            progress(c + 1, len(image) + (spec.base is not None))
    if spec.base is not None:
        learned = model_features(*model, image, voxel_size, spec.layers, spec.components, spec.views, cancel=cancel)
        for i, channel in enumerate(learned):
            array[..., len(names) + i] = channel
        if progress is not None:
            progress(len(image) + 1, len(image) + 1)
    return VoxelFeatures(array, (*names, *model_names), voxel_size, replace(spec, sigmas_um=tuple(sigmas)), cuts)
