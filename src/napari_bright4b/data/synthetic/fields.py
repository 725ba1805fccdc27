"""Random fields and shapes shared by the simulators. Lengths are in micrometres."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree


def smooth_noise(
    rng: np.random.Generator, shape: Sequence[int], voxel_size: Sequence[float], scale_um: float
) -> np.ndarray:
    """A smooth random field with correlation length about ``scale_um``, zero mean and unit
    std, float32: white noise on a grid of about ``scale_um`` spacing, lightly smoothed
    there and linearly upsampled to ``shape``."""
    shape = tuple(int(n) for n in shape)
    coarse = [max(2, int(np.ceil(n * v / scale_um)) + 1) for n, v in zip(shape, voxel_size)]
    noise = ndimage.gaussian_filter(rng.standard_normal(coarse).astype(np.float32), 0.7, mode="wrap")
    field = ndimage.zoom(noise, [n / c for n, c in zip(shape, coarse)], order=1, grid_mode=True, mode="nearest")
    return (field - field.mean()) / max(float(field.std()), 1e-12)


def ball(radius_um: float, voxel_size: Sequence[float]) -> np.ndarray:
    """A boolean ellipsoidal structuring element of ``radius_um`` on an anisotropic grid."""
    reach = [int(np.floor(radius_um / v + 1e-9)) for v in voxel_size]
    grids = np.meshgrid(*[np.arange(-r, r + 1) * v for r, v in zip(reach, voxel_size)], indexing="ij")
    return sum(g**2 for g in grids) <= radius_um**2 + 1e-9


def ellipsoid_mask(
    shape: Sequence[int],
    voxel_size: Sequence[float],
    centre_um: Sequence[float],
    radii_um: Sequence[float],
    rotation: np.ndarray | None = None,
    roughness: np.ndarray | None = None,
) -> tuple[tuple[slice, ...], np.ndarray]:
    """A (rotated, optionally rough) ellipsoid rasterized in its bounding box.

    Returns ``(box, mask)`` where ``mask`` has the shape of ``volume[box]``. ``roughness``
    (same shape as the volume, about unit std) perturbs the surface by up to 10%.
    """
    reach = max(radii_um) * 1.15
    box = tuple(
        slice(max(0, int(np.floor((c - reach) / v))), min(n, int(np.ceil((c + reach) / v)) + 1))
        for c, v, n in zip(centre_um, voxel_size, shape)
    )
    if any(b.stop <= b.start for b in box):
        return box, np.zeros([max(0, b.stop - b.start) for b in box], dtype=bool)
    grids = np.meshgrid(
        *[(np.arange(b.start, b.stop) * v - c) for b, v, c in zip(box, voxel_size, centre_um)], indexing="ij"
    )
    offsets = np.stack(grids, axis=-1)
    if rotation is not None:
        offsets = offsets @ rotation
    radius = np.sqrt(np.sum((offsets / np.asarray(radii_um)) ** 2, axis=-1))
    limit = 1.0 if roughness is None else 1.0 + 0.1 * roughness[box]
    return box, radius <= limit


def random_rotation(rng: np.random.Generator, tilt: float = 1.0) -> np.ndarray:
    """A random 3x3 rotation; ``tilt`` < 1 keeps the first (z) axis close to z."""
    q = rng.standard_normal(4)
    q[1:3] *= tilt
    w, x, y, z = q / np.linalg.norm(q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def tubes(
    rng: np.random.Generator,
    allowed: np.ndarray,
    voxel_size: Sequence[float],
    count: int,
    length_um: tuple[float, float],
    radius_um: float,
    flatness: float = 0.3,
    step_um: float = 0.1,
    starts: np.ndarray | None = None,
    tortuosity: float = 0.15,
) -> np.ndarray:
    """``count`` persistent random walks inside ``allowed``, thickened to ``radius_um``; bool.

    Each walk starts at a random point of a random allowed voxel (or of ``starts``, flat
    voxel indices drawn from), steps ``step_um`` with a slowly turning direction whose z component is
    damped by ``flatness`` (cells are flat), and stops when it leaves ``allowed``.
    ``tortuosity``: the direction's random change per 0.1 um walked (0.15: organelles
    that curl within a few um; 0.02: capillaries, nearly straight over tens of um).
    The tube is every voxel within ``radius_um`` of the walked path (:func:`thicken`).
    """
    spacing = np.asarray(voxel_size, dtype=float)
    candidates = np.flatnonzero(allowed) if starts is None else np.asarray(starts)
    if candidates.size == 0 or count == 0:
        return np.zeros(allowed.shape, dtype=bool)
    points = []
    turn = tortuosity * np.sqrt(step_um / 0.1)  # the same curvature per um whatever the step
    for start in rng.choice(candidates, size=count):
        voxel = np.array(np.unravel_index(start, allowed.shape), dtype=float)
        position = (voxel + rng.uniform(-0.5, 0.5, size=3)) * spacing  # anywhere in the start voxel
        direction = rng.standard_normal(3) * np.array([flatness, 1.0, 1.0])
        for _ in range(int(rng.uniform(*length_um) / step_um)):
            index = tuple(np.round(position / spacing).astype(int))
            if not all(0 <= i < n for i, n in zip(index, allowed.shape)) or not allowed[index]:
                break
            points.append(position)
            direction = direction / np.linalg.norm(direction) + rng.standard_normal(3) * turn * np.array(
                [flatness, 1.0, 1.0]
            )
            position = position + step_um * direction / np.linalg.norm(direction)
    return thicken(np.reshape(points, (-1, 3)), allowed.shape, voxel_size, radius_um) & allowed


def thicken(points_um: np.ndarray, shape: Sequence[int], voxel_size: Sequence[float], radius_um: float) -> np.ndarray:
    """The voxels of ``shape`` whose centres lie within ``radius_um`` of any of ``points_um``
    ``(N, 3)`` (a sampled centreline, in um), plus the voxel holding each point; bool.

    Distances are measured from the points themselves, not from the voxels they fall in:
    a 0.25 um tube whose axis lies between two 0.29 um z-slices covers both, as its
    0.5 um diameter does, where a ball around the nearest voxel would cover one. The
    voxels holding the points keep a tube thinner than the grid from vanishing."""
    spacing = np.asarray(voxel_size, dtype=float)
    held = np.zeros(tuple(shape), dtype=bool)
    if len(points_um) == 0:
        return held
    index = np.clip(np.round(points_um / spacing).astype(int), 0, np.asarray(shape) - 1)
    held[tuple(index.T)] = True
    # a voxel within radius of a point is within radius + half a voxel diagonal of the point's voxel
    reach = ball(radius_um + 0.5 * float(np.linalg.norm(spacing)), voxel_size)
    near = np.argwhere(ndimage.binary_dilation(held, structure=reach))
    distance, _ = cKDTree(points_um).query(near * spacing, distance_upper_bound=radius_um + 1e-9)
    inside = near[np.isfinite(distance)]
    held[tuple(inside.T)] = True
    return held


def label_boundaries(labels: np.ndarray, axes: Sequence[int]) -> np.ndarray:
    """Voxels whose next neighbour along any of ``axes`` carries another label; bool."""
    boundary = np.zeros(labels.shape, dtype=bool)
    for axis in axes:
        lead = [slice(None)] * labels.ndim
        lead[axis] = slice(0, -1)
        boundary[tuple(lead)] |= np.diff(labels, axis=axis) != 0
    return boundary
