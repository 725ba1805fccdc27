"""The PSF a user would hand the deconvolution for a simulated light-sheet blur: one
shift-invariant kernel, as a bead measurement or the objective's specification gives it,
not the simulator's spatially varying truth.

For the ``light-sheet`` kind the sheet's thickness is averaged over x and the scattering
halo is added with its share; the ``depth`` kind takes its mid-depth sigmas; ``gaussian``
and ``widefield`` are exact. ``scale`` (axial, lateral) stretches the kernel as a PSF known
only roughly would be (the widefield cone with the lateral sigma).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .widefield import widefield_psf


def _gaussian(sigma_vox: Sequence[float], half: Sequence[int]) -> np.ndarray:
    """A Gaussian with ``sigma_vox`` (z, y, x) on a ``2 * half + 1`` grid, summing to 1."""
    axes = [np.arange(-h, h + 1) / s for h, s in zip(half, sigma_vox)]
    zz, yy, xx = np.meshgrid(*axes, indexing="ij")
    kernel = np.exp(-0.5 * (zz**2 + yy**2 + xx**2))
    return kernel / kernel.sum()


def _sheet_axial_um(blur: dict, extent_x_um: float) -> float:
    """The light sheet's thickness averaged across the field of view, um."""
    x = np.linspace(0.0, extent_x_um, 64)
    return float(np.mean(blur["waist_um"] * np.sqrt(1 + ((x - blur["waist_x_um"]) / blur["rayleigh_um"]) ** 2)))


def nominal_psf(
    blur: dict, voxel_size: Sequence[float], shape: Sequence[int], scale: Sequence[float] = (1.0, 1.0)
) -> np.ndarray:
    """The kernel ``(dz, dy, dx)`` float32 summing to 1 for ``blur`` (from
    :func:`.lightsheet.draw_blur`) on a grid of ``voxel_size`` (z, y, x, um), at most
    ``2 * shape - 1`` per axis (``shape``: the volume's); ``scale``: (axial, lateral) factors."""
    axial_scale, lateral_scale = scale
    lateral = blur["lateral_um"] * lateral_scale
    if blur["kind"] == "widefield":
        slope = blur["cone_slope"] * lateral_scale
        return widefield_psf(voxel_size, lateral, slope, blur["defocus_um"] * axial_scale, shape)
    if blur["kind"] == "light-sheet":
        axial = _sheet_axial_um(blur, shape[2] * voxel_size[2])
    else:
        growth = 1 + blur.get("depth_growth", 0.0) / 2  # the depth kind's sigmas at mid-depth
        axial, lateral = blur["axial_um"] * growth, lateral * growth
    sigma = np.array([axial * axial_scale, lateral, lateral]) / np.asarray(voxel_size)
    scatter = blur.get("scatter", 0.0)
    halo = np.full(3, blur.get("scatter_um", 0.0) * lateral_scale) / np.asarray(voxel_size)
    widest = np.maximum(sigma, halo) if scatter else sigma
    half = [min(math.ceil(3 * s), n - 1) for s, n in zip(widest, shape)]
    kernel = (1 - scatter) * _gaussian(sigma, half)
    if scatter:
        kernel += scatter * _gaussian(halo, half)
    return (kernel / kernel.sum()).astype(np.float32)
