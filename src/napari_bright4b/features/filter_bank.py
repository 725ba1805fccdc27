"""A classic multiscale filter bank, as ilastik and convpaint compute it, in micrometres.

At each scale ``sigma`` (um) the image is smoothed by a Gaussian of ``sigma / voxel`` voxels
along each axis, so an anisotropic stack (0.29 um in z, 0.108 um in y and x) is smoothed
over the same physical distance in every direction. Per scale: the smoothed intensity, its
gradient magnitude, its Laplacian, the three eigenvalues of its Hessian and of its
structure tensor (the gradient's outer product averaged over half the scale: texture and
edge orientation), ascending, derivatives taken per micrometre. Plus the raw (normalized)
intensity.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from ..inference.resample import check_voxel_size

PER_SCALE = (
    "gaussian",
    "gradient",
    "laplacian",
    "hessian_1",
    "hessian_2",
    "hessian_3",
    "structure_1",
    "structure_2",
    "structure_3",
)
PAIRS = ((0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2))  # a symmetric 3x3 matrix's elements
SCALES = 5  # default: the lateral voxel size times 1, 2, 4, 8, 16


def default_sigmas(voxel_size: Sequence[float], scales: int = SCALES) -> tuple[float, ...]:
    """Scales (um) from one lateral voxel up, doubling: the pixel scales of ilastik's bank."""
    return tuple(float(voxel_size[-1] * 2**k) for k in range(scales))


def feature_names(sigmas: Sequence[float]) -> tuple[str, ...]:
    return ("intensity", *(f"{name} {s:.3g} um" for s in sigmas for name in PER_SCALE))


def symmetric_eigenvalues(a, b, c, d, e, f) -> np.ndarray:
    """Ascending eigenvalues ``(3, ...)`` of the symmetric 3x3 matrices ``[[a, d, e], [d, b, f],
    [e, f, c]]`` given element-wise (the trigonometric closed form; float32 in, float32 out)."""
    q = (a + b + c) / 3
    p1 = d * d + e * e + f * f
    p2 = (a - q) ** 2 + (b - q) ** 2 + (c - q) ** 2 + 2 * p1
    p = np.sqrt(p2 / 6)
    scale = np.where(p > 0, 1 / np.where(p > 0, p, 1), 0)
    ba, bb, bc = (a - q) * scale, (b - q) * scale, (c - q) * scale
    bd, be, bf = d * scale, e * scale, f * scale
    half_det = (ba * (bb * bc - bf * bf) - bd * (bd * bc - bf * be) + be * (bd * bf - bb * be)) / 2
    phi = np.arccos(np.clip(half_det, -1, 1)) / 3
    largest = q + 2 * p * np.cos(phi)
    smallest = q + 2 * p * np.cos(phi + 2 * np.pi / 3)
    return np.stack([smallest, 3 * q - largest - smallest, largest]).astype(np.float32)


def scale_features(image: np.ndarray, voxel_size: Sequence[float], sigma_um: float, axial: float = 1.0) -> np.ndarray:
    """The :data:`PER_SCALE` features ``(9, Z, Y, X)`` float32 of ``image`` at ``sigma_um``
    (``axial`` times that along z)."""
    sigma = [sigma_um * f / v for f, v in zip((axial, 1.0, 1.0), voxel_size)]
    smooth = ndimage.gaussian_filter(image, sigma, mode="reflect")
    gradient = np.gradient(smooth, *voxel_size)
    magnitude = np.sqrt(sum(g * g for g in gradient))
    second = {(i, j): np.gradient(gradient[i], voxel_size[j], axis=j) for i, j in PAIRS}
    outer = [0.5 * s for s in sigma]
    tensor = [ndimage.gaussian_filter(gradient[i] * gradient[j], outer) for i, j in PAIRS]
    del gradient
    hessian = symmetric_eigenvalues(*(second[pair] for pair in PAIRS))
    structure = symmetric_eigenvalues(*tensor)
    laplacian = second[0, 0] + second[1, 1] + second[2, 2]
    layers = [smooth[None], magnitude[None], laplacian[None], hessian, structure]
    return np.concatenate(layers).astype(np.float32, copy=False)


def filter_bank(
    image: np.ndarray,
    voxel_size: Sequence[float],
    sigmas_um: Sequence[float] | None = None,
    axial: float = 1.0,
    out=None,
) -> np.ndarray:
    """Features ``(Z, Y, X, F)`` float32 of a normalized ``image (Z, Y, X)`` with voxel size
    ``voxel_size`` (z, y, x, um): :func:`feature_names` order, ``F = 1 + 9 * len(sigmas)``.
    ``out`` may be a preallocated array of that shape (a memory map for large volumes)."""
    voxel_size = check_voxel_size(voxel_size)
    sigmas = tuple(sigmas_um or default_sigmas(voxel_size))
    image = np.asarray(image, dtype=np.float32)
    count = 1 + len(PER_SCALE) * len(sigmas)
    if out is None:
        out = np.empty((*image.shape, count), np.float32)
    out[..., 0] = image
    for k, sigma in enumerate(sigmas):
        features = scale_features(image, voxel_size, sigma, axial)
        for i, channel in enumerate(features):
            out[..., 1 + len(PER_SCALE) * k + i] = channel
    return out
