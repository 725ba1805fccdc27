"""Simulated light-sheet fluorescence volumes of cleared tissue: eight stain categories,
four blur models, sharp/blurred pairs.

A stain is a fluorophore density of its labelled structure (relative units, about 0..1)
over tissue autofluorescence. Imaging blurs the expected photon counts with either

- ``gaussian``: an anisotropic Gaussian (lateral and axial sigmas), or
- ``light-sheet``: a lateral detection blur and an axial blur set by the sheet, whose
  thickness grows away from its waist along x like a Gaussian beam
  (``sigma_z(x) = waist * sqrt(1 + ((x - x0) / rayleigh)^2)``), plus a faint, wide
  scattering halo, or
- ``depth``: an anisotropic Gaussian whose sigmas grow linearly with depth (scattering
  tissue), or
- ``widefield``: no sheet at all, every plane's out-of-focus cone (:mod:`.widefield`),

then applies Poisson shot noise and Gaussian read noise on a camera offset (and, in the
randomized ranges, clips at the camera's maximum). Every parameter is drawn at random per
volume from :mod:`.lightsheet_ranges`. Lengths are in micrometres.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from math import prod

import numpy as np
from scipy import ndimage

from .colony import voronoi_labels
from .fields import ball, ellipsoid_mask, label_boundaries, random_rotation, smooth_noise, tubes
from .lightsheet_ranges import CLASSIC, ImagingRanges
from .widefield import widefield_blur

LIGHTSHEET_VOXEL_SIZE = (2.0, 1.0, 1.0)
BLUR_KINDS = ("gaussian", "light-sheet", "depth", "widefield")
CAMERA_OFFSET = 100.0

Grid = tuple[tuple[int, int, int], tuple[float, float, float]]


@dataclass(frozen=True)
class LightSheetSample:
    """``image (Z, Y, X)`` float32 camera counts (blurred, noisy); ``sharp``: the expected
    counts before blur and noise (the deblurring target, same units); ``mask``: the
    labelled structure (bool; empty for ``autofluorescence``)."""

    image: np.ndarray
    sharp: np.ndarray
    mask: np.ndarray
    stain: str
    voxel_size: tuple[float, float, float]
    blur: dict


def _count(rng: np.random.Generator, grid: Grid, per_10k_um3: float, minimum: int = 1) -> int:
    """A Poisson number of objects for the grid's volume, at least ``minimum``."""
    shape, voxel = grid
    return max(minimum, int(rng.poisson(per_10k_um3 * prod(shape) * prod(voxel) / 1e4)))


def _centres(rng: np.random.Generator, grid: Grid, count: int) -> np.ndarray:
    shape, voxel = grid
    return rng.uniform(0, np.multiply(shape, voxel), size=(count, 3))


def _blobs(rng, grid: Grid, centres, radius_um: tuple[float, float], value: tuple[float, float]) -> np.ndarray:
    """Randomly rotated ellipsoids of radii in ``radius_um`` and brightness in ``value``."""
    shape, voxel = grid
    density = np.zeros(shape, dtype=np.float32)
    for centre in centres:
        radii = rng.uniform(*radius_um) * rng.uniform(0.75, 1.25, size=3)
        box, mask = ellipsoid_mask(shape, voxel, centre, radii, random_rotation(rng))
        density[box] = np.maximum(density[box], mask * np.float32(rng.uniform(*value)))
    return density


def _radial_distance(grid: Grid, centre: np.ndarray) -> np.ndarray:
    shape, voxel = grid
    axes = [np.arange(n) * v - c for n, v, c in zip(shape, voxel, centre)]
    return np.sqrt(sum(a**2 for a in np.meshgrid(*axes, indexing="ij", sparse=True))).astype(np.float32)


def _starts_near(grid: Grid, centre: np.ndarray) -> np.ndarray:
    """Flat index of the voxel at ``centre`` (um), clipped into the grid."""
    shape, voxel = grid
    index = [int(np.clip(round(c / v), 0, n - 1)) for c, v, n in zip(centre, voxel, shape)]
    return np.array([np.ravel_multi_index(index, shape)])


def _fibres(rng, grid: Grid, count: int, length_um, radius_um: float, starts=None, tortuosity=0.15) -> np.ndarray:
    shape, voxel = grid
    everywhere = np.ones(shape, dtype=bool)
    return tubes(rng, everywhere, voxel, count, length_um, radius_um, 1.0, 0.5, starts=starts, tortuosity=tortuosity)


def nuclear(rng, grid: Grid) -> np.ndarray:
    """Densely packed nuclei (a nuclear dye): ellipsoids of 2.5-4.5 um radius with chromatin texture."""
    shape, voxel = grid
    density = _blobs(rng, grid, _centres(rng, grid, _count(rng, grid, 1.0)), (2.5, 4.5), (0.5, 1.0))
    return density * (1 + 0.2 * smooth_noise(rng, shape, voxel, 1.5))


def vessel(rng, grid: Grid) -> np.ndarray:
    """Capillaries and small vessels (lectin): nearly straight tubes of 1.5-4 um radius with
    bright walls, crossing the field."""
    _, voxel = grid
    lumen = _fibres(rng, grid, _count(rng, grid, 0.15, 2), (60.0, 200.0), rng.uniform(1.5, 4.0), tortuosity=0.02)
    wall = lumen & ~ndimage.binary_erosion(lumen, structure=ball(1.0, voxel))
    return (0.4 * lumen + 0.6 * wall).astype(np.float32)


def plaque(rng, grid: Grid) -> np.ndarray:
    """Amyloid plaques: a few dense cores with a fibrillar corona, 6-15 um radius."""
    shape, voxel = grid
    density = np.zeros(shape, dtype=np.float32)
    fibrils = smooth_noise(rng, shape, voxel, 1.5)
    for centre in _centres(rng, grid, _count(rng, grid, 0.04)):
        radius = rng.uniform(6.0, 15.0)
        r = _radial_distance(grid, centre)
        core = np.exp(-((r / (0.35 * radius)) ** 2))
        corona = (r < radius * (1 + 0.2 * fibrils)) * np.clip(0.35 + 0.3 * fibrils, 0, 1)
        density = np.maximum(density, core + corona)
    return density


def neuron(rng, grid: Grid) -> np.ndarray:
    """Sparse neurons: a few somata of 5-8 um radius and long thin axons and dendrites."""
    somata = _blobs(rng, grid, _centres(rng, grid, _count(rng, grid, 0.03)), (5.0, 8.0), (0.7, 1.0))
    neurites = _fibres(rng, grid, _count(rng, grid, 0.4, 4), (80.0, 300.0), 0.6)
    return np.maximum(somata, 0.6 * neurites)


def cytoplasmic(rng, grid: Grid) -> np.ndarray:
    """Filled cell bodies of 4-7 um radius with a dim nucleus and granular cytoplasm."""
    shape, voxel = grid
    cells = np.zeros(shape, dtype=np.float32)
    for centre in _centres(rng, grid, _count(rng, grid, 0.5)):
        radius = rng.uniform(4.0, 7.0)
        r = _radial_distance(grid, centre)
        body = (r < radius) * np.float32(rng.uniform(0.5, 1.0))
        cells = np.maximum(cells, np.where(r < 0.5 * radius, 0.25 * body, body))
    return cells * (1 + 0.3 * smooth_noise(rng, shape, voxel, 1.0))


def membrane(rng, grid: Grid) -> np.ndarray:
    """Cell outlines (a membrane dye): the faces of a 3D Voronoi tessellation of cells."""
    shape, voxel = grid
    labels = voronoi_labels(_centres(rng, grid, _count(rng, grid, 1.0, 2)), shape, voxel)
    faces = label_boundaries(labels, axes=(0, 1, 2))
    return faces * np.clip(0.7 + 0.3 * smooth_noise(rng, shape, voxel, 4.0), 0.2, 1.5)


def microglia(rng, grid: Grid) -> np.ndarray:
    """Microglia-like cells: small somata (2.5-4 um) with 4-8 thin ramified processes each."""
    somata_centres = _centres(rng, grid, _count(rng, grid, 0.08))
    density = _blobs(rng, grid, somata_centres, (2.5, 4.0), (0.7, 1.0))
    for centre in somata_centres:
        processes = _fibres(rng, grid, int(rng.integers(4, 9)), (10.0, 30.0), 0.6, _starts_near(grid, centre))
        density = np.maximum(density, 0.6 * processes)
    return density


def autofluorescence(rng, grid: Grid) -> np.ndarray:
    """No labelled structure: lipofuscin-like granules of about 1 um in textured tissue."""
    granules = _blobs(rng, grid, _centres(rng, grid, _count(rng, grid, 3.0)), (0.7, 1.5), (0.2, 0.6))
    shape, voxel = grid
    return granules + 0.15 * np.clip(smooth_noise(rng, shape, voxel, 6.0), 0, None)


STRUCTURE_OF: dict[str, Callable[[np.random.Generator, Grid], np.ndarray]] = {
    f.__name__: f for f in (nuclear, vessel, plaque, neuron, cytoplasmic, membrane, microglia, autofluorescence)
}
STAINS = tuple(STRUCTURE_OF)


def draw_blur(
    rng: np.random.Generator, extent_x_um: float, kind: str | None = None, ranges: ImagingRanges = CLASSIC
) -> dict:
    """Random blur parameters (um) from ``ranges``; ``kind`` is one of :data:`BLUR_KINDS` or
    random among ``ranges.kinds``; blurs in ``ranges``' excluded corner are drawn again."""
    chosen = kind or str(rng.choice(ranges.kinds))
    if chosen not in BLUR_KINDS:
        raise ValueError(f"blur kind must be one of {BLUR_KINDS}, got {chosen!r}")
    blur = {"kind": chosen, "lateral_um": rng.uniform(*ranges.lateral_um)}
    if chosen == "light-sheet":
        return {
            **blur,
            "waist_um": rng.uniform(*ranges.waist_um),
            "rayleigh_um": rng.uniform(0.3, 1.0) * extent_x_um,
            "waist_x_um": rng.uniform(0.0, extent_x_um),
            "scatter": rng.uniform(*ranges.scatter),
            "scatter_um": rng.uniform(*ranges.scatter_um),
        }
    if chosen == "widefield":
        return {**blur, "cone_slope": rng.uniform(*ranges.cone_slope), "defocus_um": rng.uniform(*ranges.defocus_um)}
    blur["axial_um"] = rng.uniform(*ranges.axial_um)
    if chosen == "depth":
        blur["depth_growth"] = rng.uniform(*ranges.depth_growth)
    return draw_blur(rng, extent_x_um, kind, ranges) if ranges.excludes(blur) else blur


def _graded(blur_by: Callable[[float], np.ndarray], values: np.ndarray, axis: int, levels: int) -> np.ndarray:
    """A volume blurred by ``blur_by(v)``, where ``v = values[i]`` varies along ``axis`` (index
    ``i``): interpolated between ``levels`` evenly spaced values."""
    if np.ptp(values) <= 1e-6:
        return blur_by(float(values[0]))
    steps = np.linspace(values.min(), values.max(), levels)
    stack = np.stack([blur_by(s) for s in steps])
    position = np.interp(values, steps, np.arange(levels))
    below = np.minimum(np.floor(position).astype(int), levels - 2)
    shape = [1, 1, 1, 1]
    shape[axis + 1] = -1
    share = (position - below).astype(np.float32).reshape(shape[1:])

    def level(index: np.ndarray) -> np.ndarray:
        return np.take_along_axis(stack, index.reshape(shape), axis=0)[0]

    return level(below) * (1 - share) + level(below + 1) * share


def apply_blur(volume: np.ndarray, voxel_size: Sequence[float], blur: dict, levels: int = 6) -> np.ndarray:
    """Blur ``volume (Z, Y, X)`` with the model ``blur`` from :func:`draw_blur`; float32.

    The light-sheet's x-dependent axial blur and the depth kind's z-dependent blur are
    interpolated between ``levels`` blur widths."""
    vz, vy, vx = voxel_size
    lateral = [blur["lateral_um"] / vy, blur["lateral_um"] / vx]
    if blur["kind"] == "widefield":
        return widefield_blur(volume, voxel_size, blur)
    if blur["kind"] == "gaussian":
        return ndimage.gaussian_filter(volume, [blur["axial_um"] / vz, *lateral]).astype(np.float32)
    if blur["kind"] == "depth":  # scattering: every sigma grows linearly from the top to the bottom
        sigma = np.array([blur["axial_um"] / vz, *lateral])
        growth = 1 + blur["depth_growth"] * np.arange(volume.shape[0]) / max(volume.shape[0] - 1, 1)
        return _graded(lambda g: ndimage.gaussian_filter(volume, sigma * g), growth, 0, levels).astype(np.float32)
    laterally_blurred = ndimage.gaussian_filter(volume, [0, *lateral])
    x = np.arange(volume.shape[2]) * vx
    thickness = blur["waist_um"] * np.sqrt(1 + ((x - blur["waist_x_um"]) / blur["rayleigh_um"]) ** 2)
    sheet = _graded(lambda s: ndimage.gaussian_filter1d(laterally_blurred, s / vz, axis=0), thickness, 2, levels)
    halo = ndimage.gaussian_filter(volume, [blur["scatter_um"] / v for v in voxel_size])
    return ((1 - blur["scatter"]) * sheet + blur["scatter"] * halo).astype(np.float32)


def simulate_lightsheet(
    shape: Sequence[int] = (32, 96, 96),
    voxel_size: Sequence[float] = LIGHTSHEET_VOXEL_SIZE,
    seed: int = 0,
    stain: str | None = None,
    blur_kind: str | None = None,
    ranges: ImagingRanges = CLASSIC,
) -> LightSheetSample:
    """A random cleared-tissue volume of ``stain`` (random if ``None``), imaged by a
    light-sheet microscope with image formation drawn from ``ranges``: ``shape`` (Z, Y, X)
    at ``voxel_size`` (z, y, x) um."""
    shape = tuple(int(n) for n in shape)
    voxel_size = tuple(float(v) for v in voxel_size)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"shape must be 3 positive sizes (Z, Y, X), got {shape}")
    rng = np.random.default_rng(seed)
    stain = stain or str(rng.choice(STAINS))
    if stain not in STRUCTURE_OF:
        raise ValueError(f"stain must be one of {STAINS}, got {stain!r}")
    grid = (shape, voxel_size)
    structure = np.clip(STRUCTURE_OF[stain](rng, grid), 0, None).astype(np.float32)
    mask = structure > 0.25 if stain != "autofluorescence" else np.zeros(shape, dtype=bool)
    tissue = rng.uniform(*ranges.tissue) * (1 + 0.3 * smooth_noise(rng, shape, voxel_size, 25.0))
    low, high = np.log(ranges.photons) if ranges.log_photons else ranges.photons
    photons = float(np.exp(rng.uniform(low, high)) if ranges.log_photons else rng.uniform(low, high))
    sharp = (np.clip(tissue, 0, None) + rng.uniform(2.0, 6.0) * structure) * photons
    blur = {**draw_blur(rng, shape[2] * voxel_size[2], blur_kind, ranges), "photons": photons}
    blur["read_noise"] = rng.uniform(*ranges.read_noise)
    expected = np.clip(apply_blur(sharp, voxel_size, blur), 0, None)
    image = rng.poisson(expected).astype(np.float32) + rng.normal(CAMERA_OFFSET, blur["read_noise"], shape).astype(
        np.float32
    )
    if ranges.saturated[1] > 0:  # the camera's maximum, reached by this share of the voxels
        blur["saturated"] = rng.uniform(*ranges.saturated)
        image = np.minimum(image, np.quantile(image, 1 - blur["saturated"])).astype(np.float32)
    return LightSheetSample(image, (sharp + CAMERA_OFFSET).astype(np.float32), mask, stain, voxel_size, blur)
