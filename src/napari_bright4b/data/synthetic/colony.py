"""The geometry of a hiPSC-like colony: columnar cells, nuclei, nucleoli, mitochondria.

Every length is drawn in micrometres, so the same colony can be rasterized at any voxel
size. Cells are a Voronoi tessellation of jittered hexagonal seeds, extruded between the
coverslip and a gently rolling apical surface; each cell holds one rough ellipsoidal
nucleus with one to three nucleoli, and mitochondria are persistent random walks
through the cytoplasm.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from .fields import ellipsoid_mask, label_boundaries, random_rotation, smooth_noise, tubes


@dataclass(frozen=True)
class Colony:
    """Ground truth on a ``(Z, Y, X)`` grid: instance labels (uint16) and masks (bool)."""

    cells: np.ndarray
    nuclei: np.ndarray
    nucleoli: np.ndarray
    mitochondria: np.ndarray
    membranes: np.ndarray
    voxel_size: tuple[float, float, float]
    parameters: dict = field(default_factory=dict)


STRUCTURES = ("outside", "cytoplasm", "nuclei", "nucleoli", "mitochondria")


def structure_map(colony: Colony) -> np.ndarray:
    """Exclusive structures ``(Z, Y, X)`` uint8, the indices of :data:`STRUCTURES`: outside the
    cells, cytoplasm, nuclei, nucleoli (over their nuclei), mitochondria."""
    structures = (colony.cells > 0).astype(np.uint8)
    structures[colony.nuclei > 0] = 2
    structures[colony.mitochondria] = 4
    structures[colony.nucleoli] = 3
    return structures


def hexagonal_seeds(rng: np.random.Generator, extent_um: Sequence[float], spacing: float) -> np.ndarray:
    """Jittered hexagonal lattice points ``(N, 2)`` (y, x) covering ``extent_um`` plus one spacing."""
    rows = np.arange(-spacing, extent_um[0] + spacing, spacing * np.sqrt(3) / 2)
    points = [
        (y, x + (spacing / 2 if i % 2 else 0.0))
        for i, y in enumerate(rows)
        for x in np.arange(-spacing, extent_um[1] + spacing, spacing)
    ]
    return np.asarray(points) + rng.normal(scale=0.15 * spacing, size=(len(points), 2))


def voronoi_labels(seeds: np.ndarray, shape: Sequence[int], voxel_size: Sequence[float]) -> np.ndarray:
    """Label of the nearest seed (``(N, ndim)`` in um) for every voxel of ``shape``,
    1-based; seeds outside the grid count too. Works in 2D and 3D."""
    from scipy.spatial import cKDTree

    grids = np.meshgrid(*(np.arange(n) * v for n, v in zip(shape, voxel_size)), indexing="ij")
    _, nearest = cKDTree(seeds).query(np.stack([g.ravel() for g in grids], axis=1))
    return (nearest + 1).reshape(shape)


def override(drawn: dict, overrides: Mapping | None, what: str) -> dict:
    """``drawn`` with the values of ``overrides`` in place of the drawn ones, cast to the drawn
    values' types; a key that was not drawn is a ValueError naming the allowed ones."""
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(drawn))
    if unknown:
        raise ValueError(f"unknown {what} override(s) {unknown}; allowed: {', '.join(sorted(drawn))}")
    return {**drawn, **{key: type(drawn[key])(value) for key, value in overrides.items()}}


def simulate_colony(
    rng: np.random.Generator,
    shape: Sequence[int],
    voxel_size: Sequence[float],
    overrides: Mapping[str, float] | None = None,
) -> Colony:
    """A random colony filling a ``shape`` volume with ``voxel_size`` (z, y, x) um voxels.

    ``overrides`` replace parameters (keys of :attr:`Colony.parameters`) after they are drawn,
    so the other parameters are drawn as without them."""
    shape, voxel_size = tuple(int(n) for n in shape), tuple(float(v) for v in voxel_size)
    p = draw_parameters(rng, overrides)
    seeds, footprint = cell_footprint(rng, p, shape[1:], voxel_size[1:])
    roughness = smooth_noise(rng, shape, voxel_size, 1.5)
    cells = extrude_cells(rng, p, footprint, shape, voxel_size)
    membranes = ndimage.binary_dilation(label_boundaries(cells, axes=(1, 2)), iterations=1) & (cells > 0)
    interior = (cells > 0) & ~membranes
    nuclei = place_nuclei(rng, p, seeds, footprint, cells, interior, roughness, voxel_size)
    nucleoli = place_nucleoli(rng, nuclei, p["nucleoli_per_nucleus"], roughness, voxel_size)
    cytoplasm = interior & (nuclei == 0)
    count = p["mitochondria_per_cell"] * max(int(nuclei.max()), 1)
    mitochondria = tubes(rng, cytoplasm, voxel_size, count, (1.0, 5.0), p["mitochondria_radius_um"])
    return Colony(cells, nuclei, nucleoli, mitochondria, membranes, voxel_size, p)


def draw_parameters(rng: np.random.Generator, overrides: Mapping[str, float] | None) -> dict:
    """The colony's random parameters (lengths in um), then ``overrides`` in their place."""
    drawn = {
        "cell_spacing_um": rng.uniform(7.0, 11.0),
        "base_um": rng.uniform(0.3, 2.0),
        "height_um": rng.uniform(7.0, 11.0),
        "nucleus_fraction": rng.uniform(0.28, 0.4),
        "nucleus_z_radius_um": rng.uniform(2.3, 3.6),
        "nucleoli_per_nucleus": int(rng.integers(1, 4)),
        "mitochondria_per_cell": int(rng.integers(8, 30)),
        "mitochondria_radius_um": rng.uniform(0.2, 0.32),
        "colony_edge": bool(rng.random() < 0.4),
    }
    return override(drawn, overrides, "colony")


def cell_footprint(
    rng: np.random.Generator, p: dict, shape_yx: tuple[int, int], voxel_yx: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """Cell seeds ``(N, 2)`` (y, x) in um and the cells' footprint ``(Y, X)``: the 1-based
    seed labels, 0 beyond a curved colony border when ``p["colony_edge"]``."""
    extent = (shape_yx[0] * voxel_yx[0], shape_yx[1] * voxel_yx[1])
    seeds = hexagonal_seeds(rng, extent, p["cell_spacing_um"])
    footprint = voronoi_labels(seeds, shape_yx, voxel_yx)
    if p["colony_edge"]:  # a colony border curving through the field of view
        centre = np.array(extent) / 2 + rng.normal(size=2) * np.array(extent)
        radius = np.linalg.norm(centre - np.array(extent) / 2) + rng.uniform(-0.25, 0.25) * min(extent)
        inside = np.linalg.norm(seeds - centre, axis=1) <= radius
        footprint = np.where(inside[footprint - 1], footprint, 0)
    return seeds, footprint


def extrude_cells(
    rng: np.random.Generator, p: dict, footprint: np.ndarray, shape: tuple[int, ...], voxel_size: tuple[float, ...]
) -> np.ndarray:
    """Cell labels ``(Z, Y, X)`` uint16: the ``(Y, X)`` footprint between the coverslip at
    ``p["base_um"]`` and an apical surface about ``p["height_um"]`` above it, rolling by 12 %."""
    z = (np.arange(shape[0]) * voxel_size[0])[:, None, None]
    top = p["base_um"] + p["height_um"] * (1 + 0.12 * smooth_noise(rng, shape[1:], voxel_size[1:], 15.0))
    in_slab = (z >= p["base_um"]) & (z <= top[None])
    return np.where(in_slab, footprint[None], 0).astype(np.uint16)


def place_nuclei(
    rng: np.random.Generator,
    p: dict,
    seeds: np.ndarray,
    footprint: np.ndarray,
    cells: np.ndarray,
    interior: np.ndarray,
    roughness: np.ndarray,
    voxel_size: tuple[float, float, float],
) -> np.ndarray:
    """Nucleus labels ``(Z, Y, X)`` uint16, 1..N: a rough, slightly tilted ellipsoid in the
    ``interior`` of each cell whose seed lies in the field; slivers under 10 um^3 are dropped."""
    shape, (vz, vy, vx) = cells.shape, voxel_size
    extent = (shape[1] * vy, shape[2] * vx)
    nuclei = np.zeros(shape, dtype=np.uint16)
    label = 0
    for index, (sy, sx) in enumerate(seeds, start=1):
        if not (0 <= sy < extent[0] and 0 <= sx < extent[1]) or not np.any(footprint == index):
            continue
        centre = (
            p["base_um"] + p["height_um"] * rng.uniform(0.4, 0.55),
            sy + rng.normal(scale=0.08 * p["cell_spacing_um"]),
            sx + rng.normal(scale=0.08 * p["cell_spacing_um"]),
        )
        lateral = p["cell_spacing_um"] * p["nucleus_fraction"] * rng.uniform(0.85, 1.15, size=2)
        radii = (p["nucleus_z_radius_um"] * rng.uniform(0.85, 1.15), *lateral)
        box, mask = ellipsoid_mask(shape, voxel_size, centre, radii, random_rotation(rng, tilt=0.15), roughness)
        mask &= (cells[box] == index) & interior[box]
        if mask.sum() * vz * vy * vx < 10.0:  # cut by the volume border down to a sliver
            continue
        label += 1
        nuclei[box][mask] = label
    return nuclei


def place_nucleoli(
    rng: np.random.Generator,
    nuclei: np.ndarray,
    per_nucleus: int,
    roughness: np.ndarray,
    voxel_size: tuple[float, float, float],
) -> np.ndarray:
    """Nucleoli ``(Z, Y, X)`` bool: up to ``per_nucleus`` rough ellipsoids (radius 0.5-1 um)
    in each nucleus of the labels ``nuclei``, centred at least 0.4 um deeper than their radius."""
    shape = nuclei.shape
    nucleoli = np.zeros(shape, dtype=bool)
    for label_index, nucleus in enumerate(ndimage.find_objects(nuclei), start=1):
        if nucleus is None:
            continue
        depth = ndimage.distance_transform_edt(np.pad(nuclei[nucleus] == label_index, 1), sampling=voxel_size)
        depth = depth[1:-1, 1:-1, 1:-1]
        for _ in range(per_nucleus):
            radius = rng.uniform(0.5, 1.0)
            room = np.flatnonzero(depth > radius + 0.4)
            if room.size == 0:
                continue
            local = np.unravel_index(rng.choice(room), depth.shape)
            centre = [(s.start + i) * v for s, i, v in zip(nucleus, local, voxel_size)]
            radii = radius * rng.uniform(0.75, 1.25, size=3)
            box, mask = ellipsoid_mask(shape, voxel_size, centre, radii, random_rotation(rng), roughness)
            nucleoli[box] |= mask & (nuclei[box] > 0)
    return nucleoli
