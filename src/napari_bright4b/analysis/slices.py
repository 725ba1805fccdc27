"""Per z-slice numbers of a segmentation or class map: how much of each slice a class covers
and how sure the model is there.

``fraction[k, z]``: the share of slice ``z``'s voxels in class ``k``'s mask, in [0, 1].
``confidence[k, z]``: the mean probability of class ``k`` over those voxels (NaN where the
slice holds none of it).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SliceStats:
    """``fraction`` and ``confidence`` ``(K, Z)`` for classes ``names``; ``z_um (Z,)`` the slices'
    world z coordinates in micrometres."""

    names: tuple[str, ...]
    fraction: np.ndarray
    confidence: np.ndarray
    z_um: np.ndarray

    @property
    def slices(self) -> int:
        return self.fraction.shape[1]

    def rows(self) -> list[list]:
        """The table: a header, then per slice its index, z (um) and each class's two numbers."""
        header = ["z", "z (um)"] + [f"{n} {what}" for n in self.names for what in ("fraction", "confidence")]
        table = [header]
        for z in range(self.slices):
            values = [v for k in range(len(self.names)) for v in (self.fraction[k, z], self.confidence[k, z])]
            table.append([z, round(float(self.z_um[z]), 4)] + [_number(v) for v in values])
        return table

    def to_csv(self, delimiter: str = ",") -> str:
        """:meth:`rows` as CSV text (empty cells for NaN); ``delimiter="\\t"`` pastes into spreadsheets."""
        text = io.StringIO()
        csv.writer(text, delimiter=delimiter, lineterminator="\n").writerows(self.rows())
        return text.getvalue()


def slice_stats(
    names: Sequence[str],
    probabilities: Sequence[np.ndarray],
    masks: Sequence[np.ndarray],
    z_um: Sequence[float],
) -> SliceStats:
    """:class:`SliceStats` from one probability map and one mask ``(Z, Y, X)`` per class and
    the slices' world z coordinates ``z_um (Z,)`` in micrometres."""
    slices = masks[0].shape[0] if len(masks) else 0
    fraction = np.zeros((len(masks), slices))
    confidence = np.full((len(masks), slices), np.nan)
    for k, (probability, mask) in enumerate(zip(probabilities, masks)):
        for z in range(slices):  # slice by slice: no whole-volume temporaries
            inside = np.asarray(mask[z]).astype(bool, copy=False)
            count = int(inside.sum())
            fraction[k, z] = count / inside.size
            if count:
                confidence[k, z] = float(np.asarray(probability[z])[inside].sum(dtype=np.float64)) / count
    return SliceStats(tuple(names), fraction, confidence, np.asarray(z_um, dtype=float))


def _number(value: float) -> float | str:
    return "" if np.isnan(value) else round(float(value), 6)
