"""Keep the base model's answer for the classes your strokes say it already gets right.

A few strokes rarely show a classifier what a class is *not* next to its objects, so
instant mode can overgrow a class that the base model segments well (measured: the base's
mitochondria at Dice 0.65, instant's at 0.07 on the same image). The strokes are the judge:
the base keeps a class when its mask, from its card's cut on the ``p(class)`` feature and
widened by one voxel in-plane (thin structures are often painted over their rims), covers
at least :data:`COVERED` of the voxels painted as that class and at most
:data:`BACKGROUND_INSIDE` of those painted as background, and the strokes' own classifier
calls at most :data:`CALLED_BACKGROUND` of the (unwidened) mask background. The last is the
whole image's evidence rather than a few thousand painted voxels': on the cases measured,
the base classes worth keeping had at most 1.5% of their mask called background, the others
at least 13% (docs/finetune.md). A kept class then takes the base's extent: wherever instant
mode says background or a kept class, the base decides; every other class comes from the
strokes. Where the base's masks overlap, a part wins inside its whole (nucleoli inside
nuclei, :func:`~.adaptation.nested_parts`), otherwise the class the furthest above its cut;
inside a kept whole, instant mode's calls of a kept part stand too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np
import torch
from scipy import ndimage

from ...features.voxel_features import VoxelFeatures
from .adaptation import nested_parts
from .painted import PaintedClasses

COVERED = 0.5  # the base's (widened) mask covers at least half the class's strokes...
BACKGROUND_INSIDE = 0.02  # ...and at most 2% of the background strokes (docs/finetune.md)...
CALLED_BACKGROUND = 0.05  # ...and the strokes' classifier calls at most 5% of the mask background
SAMPLED = 50_000  # mask voxels per class the classifier judges: the share to within about 0.2%
Classify = Callable[[np.ndarray], np.ndarray]  # feature rows (N, F) -> class indices (N,)
IN_PLANE = ndimage.generate_binary_structure(2, 1)[None]  # (1, 3, 3): widen by one voxel in y and x


@dataclass(frozen=True)
class Agreement:
    """How the base's mask of class ``name`` (probability >= ``cut``) meets the strokes: the
    fraction of the class's painted voxels it ``covered`` and of the background's painted
    voxels it covered (``background``), both with the mask widened one voxel in-plane; the
    fraction of the (unwidened) mask the strokes' classifier calls background
    (``called_background``; 0 in files saved before 2026-12-07, judged without it); the
    base's class it is a part of (``within``), if any."""

    name: str
    cut: float
    covered: float
    background: float
    within: str | None = None
    called_background: float = 0.0

    @property
    def kept(self) -> bool:
        return (
            self.covered >= COVERED
            and self.background <= BACKGROUND_INSIDE
            and self.called_background <= CALLED_BACKGROUND
        )

    def describe(self) -> str:
        verdict = "kept the base's" if self.kept else "learned from the strokes:"
        return (
            f"{verdict} {self.name} (its mask covers {self.covered:.0%} of these strokes "
            f"and {self.background:.0%} of the background's; the strokes call "
            f"{self.called_background:.0%} of it background)"
        )

    def to_dict(self) -> dict:
        return asdict(self)

    def report(self) -> dict:
        """:meth:`to_dict` and whether the class is kept, for a summary."""
        return self.to_dict() | {"kept": self.kept}


def base_mask(features: VoxelFeatures, name: str, cut: float, z=slice(None)) -> np.ndarray:
    """The base's mask ``(dz, Y, X)`` bool of class ``name`` on slices ``z`` (a slice or indices)."""
    return np.asarray(features.array[z][..., features.names.index(f"p({name})")]) >= cut


def called_background(features: VoxelFeatures, masks: Sequence[np.ndarray], classify: Classify) -> list[float]:
    """Per mask of ``masks (Z, Y, X)`` bool, the fraction of its voxels (at most
    :data:`SAMPLED`, drawn with a fixed seed) whose feature rows ``classify`` puts in class
    0, background; 0 for an empty mask. One call of ``classify`` for all of them."""
    rng = np.random.default_rng(0)
    chosen = []
    for mask in masks:
        where = np.flatnonzero(mask)
        chosen.append(np.sort(rng.choice(where, SAMPLED, replace=False)) if where.size > SAMPLED else where)
    index = np.concatenate([np.zeros(0, np.int64), *chosen])
    rows = np.asarray(features.array.reshape(-1, features.array.shape[-1])[index], np.float32)
    background = classify(rows) == 0 if index.size else np.zeros(0, bool)
    calls = np.split(background, np.cumsum([c.size for c in chosen])[:-1])
    return [float(call.mean()) if call.size else 0.0 for call in calls]


def agreements(
    features: VoxelFeatures, codes: np.ndarray, classes: PaintedClasses, classify: Classify
) -> tuple[Agreement, ...]:
    """The :class:`Agreement` of each painted class the base segments (it has a card cut for
    it, :attr:`VoxelFeatures.base_cuts`) with stroke ``codes (Z, Y, X)`` (0 = not painted,
    ``c + 1`` = class ``c``) and with ``classify``, the strokes' classifier (feature rows
    ``(N, F)`` to class indices ``(N,)``); none without background strokes."""
    painted_z = np.flatnonzero(codes.any(axis=(1, 2)))
    codes = codes[painted_z]
    background = codes == 1
    if not background.any():
        return ()
    names = tuple(features.base_cuts)
    columns = [features.names.index(f"p({name})") for name in names]
    probabilities = np.moveaxis(np.asarray(features.array[painted_z])[..., columns], -1, 0)
    parts = nested_parts(torch.from_numpy(probabilities[None]), names, list(features.base_cuts.values()))
    found = []
    for name, cut in features.base_cuts.items():
        c = classes.names.index(name) if name in classes.names[1:] else None
        if c is None or not (strokes := codes == c + 1).any():
            continue
        mask = ndimage.binary_dilation(base_mask(features, name, cut, painted_z), IN_PLANE)
        covered, inside = float(mask[strokes].mean()), float(mask[background].mean())
        found.append(Agreement(name, cut, covered, inside, parts.get(name)))
    called = called_background(features, [base_mask(features, a.name, a.cut) for a in found], classify)
    return tuple(replace(a, called_background=share) for a, share in zip(found, called))


def keep_base(
    predicted: np.ndarray, features: VoxelFeatures, kept: Sequence[Agreement], classes: PaintedClasses, z: slice
) -> np.ndarray:
    """Class indices ``(dz, Y, X)`` of slices ``z``: ``predicted`` (instant mode's), with the
    base deciding wherever it says background or a ``kept`` class: of the kept classes whose
    mask is on, a part inside its whole, else the one the furthest above its cut (as a
    share of the way from its cut to 1); background where no kept mask is on. Inside the
    base's whole, a kept part stays wherever instant mode finds it: the base bounds the
    nucleus, the strokes may find more nucleolus in it (docs/finetune.md)."""
    if not kept:
        return predicted
    index = {name: c for c, name in enumerate(classes.names)}
    margins = {}
    for a in kept:
        p = np.asarray(features.array[z][..., features.names.index(f"p({a.name})")], np.float32)
        margins[a.name] = np.where(p >= a.cut, (p - a.cut) / (1.0 - a.cut), -1.0)
    for a in kept:
        if a.within in margins:  # inside its part, a whole gives way
            margins[a.within] = np.where(margins[a.name] >= 0, -1.0, margins[a.within])
    stacked = np.stack(list(margins.values()))
    decision = np.asarray([index[name] for name in margins])[stacked.argmax(0)]
    decision = np.where(stacked.max(0) >= 0, decision, 0).astype(predicted.dtype)
    for a in kept:  # inside the base's whole, the strokes may find more of a part than the base
        if a.within in margins:
            grown = (predicted == index[a.name]) & (decision == index[a.within])
            decision = np.where(grown, index[a.name], decision).astype(predicted.dtype)
    decided = np.isin(predicted, [0, *(index[a.name] for a in kept)])
    return np.where(decided, decision, predicted)
