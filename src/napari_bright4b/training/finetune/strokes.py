"""Strokes as a person paints them in a Labels layer, drawn from a ground-truth class map.

What a person does: scroll to a few z-slices where a structure shows clearly (spread over
its depth), and on each slice drag a brush along a few of its objects, well inside them,
in a slightly wandering line about as long as the object is wide; background gets a few
longer strokes wherever there is room. The result follows napari's painted-label
convention: 0 = not painted, 1 = background, ``k + 1`` = class ``k``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

TURNS = np.deg2rad([30, -30, 60, -60, 90, -90])


@dataclass(frozen=True)
class Painter:
    """How one person paints: ``slices`` z-slices per class, up to ``strokes`` strokes per
    slice, a brush of ``brush`` pixels radius kept ``margin`` pixels inside the object,
    a wobble of ``wobble`` radians per pixel, object strokes ``length`` times the object's
    width and background strokes ``background_length`` times the plane's side."""

    slices: int = 3
    strokes: int = 3
    brush: float = 1.5
    margin: float = 1.0
    wobble: float = 0.2
    length: float = 0.7
    background_length: tuple[float, float] = (0.15, 0.3)


def spread_slices(area: np.ndarray, count: int) -> list[int]:
    """``count`` slices with room to paint (``area (Z,)`` > 0), spread over the depth: the
    roomiest slice of each of ``count`` equal runs of the candidate slices."""
    candidates = np.flatnonzero(area > 0)
    return [int(run[np.argmax(area[run])]) for run in np.array_split(candidates, count) if run.size]


def walk(centres: np.ndarray, start: tuple[int, int], length: float, wobble: float, rng) -> list[tuple[int, int]]:
    """A wandering path of about ``length`` pixels through the allowed ``centres (Y, X)`` bool,
    grown both ways from ``start``; it turns away from the edges of the allowed region."""
    heading = rng.uniform(0, 2 * np.pi)
    path = [start]
    for direction in (0.0, np.pi):  # forwards, then backwards from the start
        y, x = map(float, start)
        angle = heading + direction
        for _ in range(int(length / 2)):
            angle += rng.normal(0, wobble)
            for turn in (0.0, *rng.permutation(TURNS)):
                ny, nx = y + np.sin(angle + turn), x + np.cos(angle + turn)
                iy, ix = int(round(ny)), int(round(nx))
                if 0 <= iy < centres.shape[0] and 0 <= ix < centres.shape[1] and centres[iy, ix]:
                    y, x, angle = ny, nx, angle + turn
                    break
            else:
                break
            point = (int(round(y)), int(round(x)))
            if direction == 0.0:
                path.append(point)
            else:
                path.insert(0, point)
    return path


def brush_stroke(path: list[tuple[int, int]], shape: tuple[int, int], radius: float) -> np.ndarray:
    """The pixels ``(Y, X)`` bool a round brush of ``radius`` covers along ``path``."""
    stroke = np.zeros(shape, bool)
    for y, x in path:
        stroke[y, x] = True
    r = int(np.ceil(radius))
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    return ndimage.binary_dilation(stroke, structure=yy**2 + xx**2 <= radius**2)


def edge_distance(plane: np.ndarray) -> np.ndarray:
    """Distance (pixels) of each pixel of ``plane (Y, X)`` bool to the nearest pixel outside it,
    the plane's border counting as outside; 0 outside."""
    return ndimage.distance_transform_edt(np.pad(plane, 1))[1:-1, 1:-1]


def paint_class(mask: np.ndarray, is_background: bool, painter: Painter, rng) -> np.ndarray:
    """Strokes ``(Z, Y, X)`` bool painted on ``mask (Z, Y, X)``, the voxels of one class."""
    inside = np.stack([edge_distance(plane) for plane in mask])
    allowed = inside > painter.margin  # where the brush may touch
    centres = inside >= painter.margin + 1  # where its centre may go
    painted = np.zeros(mask.shape, bool)
    for z in spread_slices(centres.sum(axis=(1, 2)), painter.slices):
        objects, count = ndimage.label(centres[z])
        sizes = np.bincount(objects.ravel(), minlength=count + 1)[1:].astype(float)
        if is_background:
            picks = rng.choice(count, painter.strokes, p=sizes / sizes.sum())
            lengths = rng.uniform(*painter.background_length, painter.strokes) * min(mask.shape[1:])
        else:
            picks = rng.choice(count, min(painter.strokes, count), replace=False, p=sizes / sizes.sum())
            lengths = painter.length * np.sqrt(4 * sizes[picks] / np.pi) + 2 * (painter.margin + 1)
        for pick, length in zip(picks, lengths):
            pixels = np.argwhere(objects == pick + 1)
            start = tuple(pixels[rng.integers(len(pixels))])
            path = walk(objects == pick + 1, start, max(3.0, length), painter.wobble, rng)
            painted[z] |= brush_stroke(path, mask.shape[1:], painter.brush) & allowed[z]
    return painted


def paint_strokes(truth: np.ndarray, rng: np.random.Generator, painter: Painter = Painter()) -> np.ndarray:
    """Painted labels ``(Z, Y, X)`` uint8 for the exclusive class map ``truth (Z, Y, X)``
    (0 = background, ``k`` = class ``k``): 1 on background strokes, ``k + 1`` on class ``k``'s."""
    labels = np.zeros(truth.shape, np.uint8)
    for k in np.unique(truth):
        labels[paint_class(truth == k, k == 0, painter, rng)] = k + 1
    return labels
