"""Painted labels as training data: the classes painted, a held-out share of the strokes,
and the image and strokes on the model's voxel grid.

Painted labels follow napari's convention (as convpaint and ilastik): 0 = not painted,
1 = background, 2..K = classes. The classes of a fine-tuned model are the background
then every painted value from 2 up, in order; a value nobody painted is no class.
Strokes are coded for the loss as 0 = not painted and ``c + 1`` for class index ``c``
(:func:`~..losses.painted_loss`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ...errors import BadInputError
from ...inference.normalize import percentile_normalize
from ...inference.resample import resize, resize_nearest, target_shape
from ...models.card import ModelCard
from ..patches import Example

BACKGROUND = 1  # the painted value of the background


@dataclass(frozen=True)
class PaintedClasses:
    """The classes of painted labels: ``values[c]`` is the painted value of class ``c``
    (``values[0] == 1``, the background), ``names[c]`` its name and ``voxels[c]`` how
    many voxels of it are painted."""

    values: tuple[int, ...]
    names: tuple[str, ...]
    voxels: tuple[int, ...]

    def codes(self, labels: np.ndarray) -> np.ndarray:
        """Painted ``labels`` -> loss codes (0 = not painted, ``c + 1`` = class ``c``), uint8."""
        lookup = np.zeros(int(labels.max(initial=0)) + 1, np.uint8)
        for c, value in enumerate(self.values):
            if value < lookup.size:
                lookup[value] = c + 1
        return lookup[labels]

    def to_painted(self, classes: np.ndarray) -> np.ndarray:
        """Class indices ``(Z, Y, X)`` -> painted values, with the background as 0 (transparent
        over the image), in the dtype of the smallest fitting unsigned integer."""
        values = np.array((0, *self.values[1:]), dtype=np.min_scalar_type(max(self.values)))
        return values[classes]

    def painted_voxels(self) -> dict[str, int]:
        return dict(zip(self.names, self.voxels))


def default_names(base_classes: Sequence[str], value: int) -> str:
    """The name of painted value ``value`` >= 2 when the user gives none: the base model's
    class in the same place (label 2 = its first class, ...; a softmax base's background
    is skipped), else ``"class <value>"``."""
    named = [n for n in base_classes if n != "background"]
    return named[value - 2] if value - 2 < len(named) else f"class {value}"


def painted_classes(
    labels: np.ndarray, names: Mapping[int, str] | None = None, base_classes: Sequence[str] = ()
) -> PaintedClasses:
    """The classes painted in ``labels (Z, Y, X)``; ``names`` maps painted values to class
    names (default: :func:`default_names`). Raises :class:`BadInputError` when fewer than two
    classes (background counts) are painted, or labels are not non-negative integers."""
    labels = np.asarray(labels)
    if not np.issubdtype(labels.dtype, np.integer) or labels.min(initial=0) < 0:
        raise BadInputError(
            f"painted labels must be non-negative integers (0 = not painted, 1 = background, 2.. = classes), "
            f"got {labels.dtype}"
        )
    values, counts = np.unique(labels[labels > 0], return_counts=True)
    if values.size == 0:
        raise BadInputError("nothing is painted: paint background (label 1) and at least one class (label 2, 3, ...)")
    if values.size < 2:
        only = "background (label 1)" if values[0] == BACKGROUND else f"label {values[0]}"
        raise BadInputError(
            f"only one class is painted ({only}); fine-tuning needs two: paint background (label 1) "
            "and at least one class (label 2, 3, ...)"
        )
    per_value = dict(zip(values.tolist(), counts.tolist()))
    names = dict(names or {})
    chosen = [v for v in values.tolist() if v != BACKGROUND]
    class_names = ["background"] + [names.get(v) or default_names(base_classes, v) for v in chosen]
    if len(set(class_names)) != len(class_names):
        raise BadInputError(f"each painted class needs its own name, got {class_names[1:]}")
    return PaintedClasses(
        (BACKGROUND, *chosen), tuple(class_names), tuple(per_value.get(v, 0) for v in (BACKGROUND, *chosen))
    )


def check_labels(labels_shape: Sequence[int], image_shape: Sequence[int]) -> None:
    """Painted labels must lie on the image's grid."""
    if tuple(labels_shape) != tuple(image_shape):
        raise BadInputError(
            f"labels {tuple(labels_shape)} and image {tuple(image_shape)} differ in shape; paint on a Labels "
            "layer of the image's shape (z, y, x)"
        )


def split_strokes(codes: np.ndarray, share: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``codes (Z, Y, X)`` -> (training, held-out) codes. Per class, about ``share`` of its
    strokes (3D connected components) is held out, at least one and never all of them, so a
    class painted in one stroke is used for training only (and ``share=0`` holds out nothing)."""
    train, held_out = codes.copy(), np.zeros_like(codes)
    if share <= 0:
        return train, held_out
    for code in np.unique(codes[codes > 0]):
        components, count = ndimage.label(codes == code)
        if count < 2:
            continue
        keep = min(count - 1, max(1, int(round(share * count))))
        chosen = np.isin(components, rng.choice(np.arange(1, count + 1), keep, replace=False))
        train[chosen], held_out[chosen] = 0, code
    return train, held_out


@dataclass(frozen=True)
class PaintedData:
    """Image and strokes on the model's grid: ``image (C, Z, Y, X)`` normalized as the card
    says, ``train`` and ``held_out`` stroke codes ``(Z, Y, X)``."""

    image: np.ndarray
    train: np.ndarray
    held_out: np.ndarray

    def example(self) -> Example:
        return Example(self.image, self.train[None])


def painted_data(
    image: np.ndarray,
    voxel_size: Sequence[float],
    labels: np.ndarray,
    classes: PaintedClasses,
    card: ModelCard,
    held_out_share: float,
    rng: np.random.Generator,
) -> PaintedData:
    """Normalize ``image (C, Z, Y, X)`` and resample it (linearly) and the painted ``labels
    (Z, Y, X)`` (nearest neighbour: unpainted stays unpainted) from ``voxel_size`` to the
    card's, as the engine does for inference; then hold out a share of the strokes."""
    grid = target_shape(image.shape[1:], voxel_size, card.voxel_size)
    normalized = resize(percentile_normalize(image, **card.normalization), grid)
    resampled = resize_nearest(classes.codes(labels)[None], grid)[0]
    found = np.bincount(resampled.ravel(), minlength=len(classes.values) + 1)[1:]
    lost = [name for name, painted, kept in zip(classes.names, classes.voxels, found) if painted and not kept]
    if lost:
        raise BadInputError(
            f"the strokes of {lost[0]!r} vanish at the model's voxel size {tuple(card.voxel_size)} um; "
            "paint them thicker"
        )
    train, held_out = split_strokes(resampled, held_out_share, rng)
    return PaintedData(np.ascontiguousarray(normalized, dtype=np.float32), train, held_out)
