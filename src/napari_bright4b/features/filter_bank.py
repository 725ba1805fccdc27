"""A classic multiscale filter bank, as ilastik and convpaint compute it, in micrometres.

At each scale ``sigma`` (um) the image is smoothed by a Gaussian of ``sigma / voxel`` voxels
along each axis, so an anisotropic stack (0.29 um in z, 0.108 um in y and x) is smoothed
over the same physical distance in every direction. Per scale: the smoothed intensity, its
gradient magnitude, its Laplacian, the three eigenvalues of its Hessian and of its
structure tensor (the gradient's outer product averaged over half the scale: texture and
edge orientation), ascending, derivatives taken per micrometre; and, first, the raw
(normalized) intensity.

Beside it, the same family on the voxel grid (scikit-image's multiscale basic features, what
ilastik and convpaint compute): smoothed intensity, edges and Hessian eigenvalues at 1, 2,
4, ... voxels along every axis. Where z-steps are coarser than the lateral pixels, a z-step
is usually chosen near the axial resolution, so this family smooths along z as the optics
blur. Measured on real and off-domain stacks, the voxel-grid family with the base model's
features never fell below a random forest, where the micrometre family did (on a real CHO
stack and on low-NA nucleoli), so instant mode uses the voxel-grid family alone by default
(docs/finetune.md).
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
PER_VOXEL_SCALE = ("voxel gaussian", "voxel edges", "voxel hessian_a", "voxel hessian_b", "voxel hessian_c")
VOXEL_SCALES = 4  # default: 1, 2, 4, 8 voxels


def default_sigmas(voxel_size: Sequence[float], scales: int = SCALES) -> tuple[float, ...]:
    """Scales (um) from one lateral voxel up, doubling: the pixel scales of ilastik's bank."""
    return tuple(float(voxel_size[-1] * 2**k) for k in range(scales))


def feature_names(sigmas: Sequence[float], voxel_scales: int = 0) -> tuple[str, ...]:
    """The names of :func:`filter_bank`'s features, in its order."""
    voxel = (f"{name} {2**k} vx" for k in range(voxel_scales) for name in PER_VOXEL_SCALE)
    micrometre = ("intensity", *(f"{name} {s:.3g} um" for s in sigmas for name in PER_SCALE)) if sigmas else ()
    return (*micrometre, *voxel)


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


def voxel_scale_features(image: np.ndarray, sigma_voxels: float) -> np.ndarray:
    """The :data:`PER_VOXEL_SCALE` features ``(Z, Y, X, 5)`` float32 of ``image`` smoothed by
    ``sigma_voxels`` along every axis (scikit-image's multiscale basic features at one scale)."""
    from skimage.feature import multiscale_basic_features

    return multiscale_basic_features(image, sigma_min=sigma_voxels, sigma_max=sigma_voxels, num_sigma=1)


def filter_bank(
    image: np.ndarray,
    voxel_size: Sequence[float],
    sigmas_um: Sequence[float] | None = None,
    axial: float = 1.0,
    out=None,
    voxel_scales: int = 0,
) -> np.ndarray:
    """Features ``(Z, Y, X, F)`` float32 of a normalized ``image (Z, Y, X)`` with voxel size
    ``voxel_size`` (z, y, x, um), in :func:`feature_names` order: the micrometre family at
    ``sigmas_um`` (none if empty, the default scales if ``None``), the raw intensity first,
    ``1 + 9 * len(sigmas)`` features; then ``voxel_scales`` voxel-grid scales 1, 2, 4, ...
    voxels, 5 features each. ``out`` may be a preallocated array of that shape (a memory map
    for large volumes)."""
    voxel_size = check_voxel_size(voxel_size)
    sigmas = default_sigmas(voxel_size) if sigmas_um is None else tuple(sigmas_um)
    image = np.asarray(image, dtype=np.float32)
    first = 1 + len(PER_SCALE) * len(sigmas) if sigmas else 0  # where the voxel-grid family starts
    count = first + len(PER_VOXEL_SCALE) * voxel_scales
    if out is None:
        out = np.empty((*image.shape, count), np.float32)
    if sigmas:
        out[..., 0] = image
    for k, sigma in enumerate(sigmas):
        features = scale_features(image, voxel_size, sigma, axial)
        for i, channel in enumerate(features):
            out[..., 1 + len(PER_SCALE) * k + i] = channel
    for k in range(voxel_scales):
        start = first + len(PER_VOXEL_SCALE) * k
        out[..., start : start + len(PER_VOXEL_SCALE)] = voxel_scale_features(image, 2.0**k)
    return out
