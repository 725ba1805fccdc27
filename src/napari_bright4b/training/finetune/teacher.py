"""Pseudo-labels from the instant classifier for a deep fine-tune (``FinetuneSettings.teacher``).

Strokes cover a few hundred voxels; the instant classifier (:mod:`.instant`) fitted on them
labels every voxel. Where it is sure (normalized entropy below :data:`CONFIDENT`), its
classes become extra training labels for the network, so a fine-tune on an image far from
the base's training data learns from the whole image rather than from the strokes alone.
The held-out strokes stay real strokes, and the classifier is fitted without them: the
kept step is still chosen on what the user painted and nothing learnt from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from ...inference.resample import resize_nearest
from .instant import instant_segment
from .painted import BACKGROUND, PaintedClasses, PaintedData

CONFIDENT = 0.3  # the largest normalized entropy of a pseudo-label


def pseudo_codes(
    image: np.ndarray,
    voxel_size: Sequence[float],
    labels: np.ndarray,
    classes: PaintedClasses,
    base: str,
    model=None,
) -> np.ndarray:
    """Loss codes ``(Z, Y, X)`` (0 = none, ``c + 1`` = class ``c``) of the instant classifier's
    sure voxels, on the image's grid; ``model`` is ``base`` loaded, ``(model, card)``, if it is."""
    names = dict(zip(classes.values[1:], classes.names[1:]))
    result = instant_segment(image, voxel_size, labels, base, names=names, model=model)
    painted = np.where(result.labels == 0, BACKGROUND, result.labels)
    return np.where(result.uncertainty < CONFIDENT, classes.codes(painted), 0).astype(np.uint8)


def with_pseudo_labels(data: PaintedData, pseudo: np.ndarray) -> PaintedData:
    """``data`` whose training codes also hold ``pseudo (Z, Y, X)`` (resampled to its grid)
    wherever nothing is painted or held out."""
    pseudo = resize_nearest(pseudo[None], data.train.shape)[0]
    train = data.train.copy()
    free = (train == 0) & (data.held_out == 0)
    train[free] = pseudo[free]
    return replace(data, train=train)


def with_teacher(
    data: PaintedData,
    image: np.ndarray,
    voxel_size: Sequence[float],
    labels: np.ndarray,
    classes: PaintedClasses,
    base: str,
    model=None,
) -> PaintedData:
    """``data`` with the sure voxels of an instant classifier (:func:`pseudo_codes`) fitted on
    the painted ``labels (Z, Y, X)`` less the strokes ``data`` holds out: those still judge."""
    held_out = resize_nearest(data.held_out[None], labels.shape)[0] > 0
    strokes = np.where(held_out, 0, labels)
    return with_pseudo_labels(data, pseudo_codes(image, voxel_size, strokes, classes, base, model))
