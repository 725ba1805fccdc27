"""Richardson-Lucy deconvolution with a known point-spread function: FFT-based in torch
(CPU or GPU), tiled through the engine (:func:`.engine.predict_tiled`).

The update is ``u <- u * (PSF* (y / (PSF * u)))`` (``*`` convolution, ``PSF*`` correlation),
which keeps ``u`` non-negative and converges to the Poisson maximum-likelihood estimate.
With total-variation regularization (Dey et al., 2006) the update is divided by
``1 - tv * div(grad u / |grad u|)``; ``tv`` around 0.001-0.01 damps the noise that plain
RL amplifies over many iterations. Each tile is mirror-padded by the PSF's half-width so
the FFT's circular convolution does not wrap one border onto the other, and tiles
overlap by at least that much so the engine's blending hides the seams.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import BadInputError
from .engine import CancelToken, Progress, predict_tiled

EPS = 1e-6
MIN_TILE = 64  # voxels per axis, and at least 4 PSF widths


def gaussian_psf(sigma_um: Sequence[float], voxel_size: Sequence[float]) -> np.ndarray:
    """A Gaussian PSF ``(dz, dy, dx)`` float32 summing to 1, with standard deviations
    ``sigma_um`` (z, y, x, um) on a grid of ``voxel_size`` (z, y, x, um), 3 sigma each side."""
    sigma = [s / v for s, v in zip(sigma_um, voxel_size)]
    if len(sigma) != 3 or min(sigma) <= 0:
        raise BadInputError(f"the PSF's sigma must be 3 positive numbers (z, y, x, um), got {tuple(sigma_um)}")
    axes = [np.arange(-math.ceil(3 * s), math.ceil(3 * s) + 1) for s in sigma]
    zz, yy, xx = np.meshgrid(*axes, indexing="ij")
    psf = np.exp(-0.5 * ((zz / sigma[0]) ** 2 + (yy / sigma[1]) ** 2 + (xx / sigma[2]) ** 2))
    return (psf / psf.sum()).astype(np.float32)


def checked_psf(psf: np.ndarray, name: str = "the PSF") -> np.ndarray:
    """``psf`` as float32 ``(dz, dy, dx)`` summing to 1, cropped to where it is above 1e-4 of
    its peak (a measured PSF often sits in a large empty box); a clear error if it cannot be one."""
    psf = np.squeeze(np.asarray(psf, dtype=np.float64))
    if psf.ndim != 3 or not np.all(np.isfinite(psf)) or psf.min() < 0 or psf.max() <= 0:
        raise BadInputError(f"{name} must be a 3D (Z, Y, X) image of finite, non-negative values, not all 0")
    support = np.argwhere(psf > 1e-4 * psf.max())
    centre = np.array(np.unravel_index(np.argmax(psf), psf.shape))
    half = np.maximum(centre - support.min(0), support.max(0) - centre)  # symmetric about the peak
    box = tuple(slice(max(c - h, 0), c + h + 1) for c, h in zip(centre, half))
    psf = psf[box]
    return (psf / psf.sum()).astype(np.float32)


def _transfer(psf: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
    """The real FFT of ``psf`` placed with its centre at the origin of an array of ``shape``."""
    padded = torch.zeros(shape, dtype=psf.dtype, device=psf.device)
    padded[tuple(slice(0, n) for n in psf.shape)] = psf
    centre = [-(n // 2) for n in psf.shape]
    return torch.fft.rfftn(torch.roll(padded, centre, dims=(0, 1, 2)))


def _tv_divergence(u: torch.Tensor) -> torch.Tensor:
    """``div(grad u / |grad u|)`` of ``u (..., Z, Y, X)``: forward differences (0 past the last
    voxel), then backward differences (0 before the first)."""
    dims = (-3, -2, -1)
    grads = [torch.diff(u, dim=d, append=u.narrow(d, u.shape[d] - 1, 1)) for d in dims]
    norm = torch.sqrt(sum(g**2 for g in grads) + EPS)
    divergence = torch.zeros_like(u)
    for d, g in zip(dims, grads):
        unit = g / norm
        divergence += torch.diff(unit, dim=d, prepend=torch.zeros_like(unit.narrow(d, 0, 1)))
    return divergence


def _fit_psf(psf: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """``psf`` cropped about its centre to at most ``size`` (odd) per axis, summing to 1."""
    crop = []
    for n, s in zip(psf.shape, size):
        keep = min(n, s if s % 2 else s - 1)
        crop.append(slice((n - keep) // 2, (n - keep) // 2 + keep))
    psf = psf[tuple(crop)]
    return psf / psf.sum()


def richardson_lucy(blurred: torch.Tensor, psf: torch.Tensor, iterations: int = 20, tv: float = 0.0) -> torch.Tensor:
    """Deconvolve ``blurred (B, C, Z, Y, X)`` (non-negative; negatives are clipped) by ``psf
    (dz, dy, dx)`` summing to 1, for ``iterations``, with total-variation weight ``tv``."""
    shape = blurred.shape[2:]
    pad = [min(n // 2, s - 1) for n, s in zip(psf.shape, shape)]
    mirrored = F.pad(blurred.float().clamp_min(0), [p for p in reversed(pad) for _ in range(2)], mode="reflect")
    size = mirrored.shape[2:]
    transfer = _transfer(_fit_psf(psf.to(device=blurred.device, dtype=torch.float32), size), size)

    def convolve(u: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
        return torch.fft.irfftn(torch.fft.rfftn(u, dim=(-3, -2, -1)) * kernel, s=size, dim=(-3, -2, -1))

    estimate = mirrored.clone().clamp_min(EPS)
    for _ in range(iterations):
        ratio = mirrored / convolve(estimate, transfer).clamp_min(EPS)
        estimate = estimate * convolve(ratio, transfer.conj()).clamp_min(0)
        if tv > 0:
            estimate = estimate / (1 - tv * _tv_divergence(estimate)).clamp_min(EPS)
    crop = tuple(slice(p, p + s) for p, s in zip(pad, shape))
    return estimate[(slice(None), slice(None), *crop)]


def check_settings(iterations: int, tv: float) -> None:
    """Refuse an iteration count below 1 and a total-variation weight outside [0, 0.5)."""
    if iterations < 1:
        raise BadInputError(f"Richardson-Lucy needs at least 1 iteration, got {iterations}")
    if tv < 0 or tv >= 0.5:
        raise BadInputError(f"the total-variation weight must be in [0, 0.5), got {tv} (0.001-0.01 is typical)")


def deconvolve(
    volume,
    psf: np.ndarray,
    iterations: int = 20,
    tv: float = 0.0,
    *,
    tile: Sequence[int] | None = None,
    device: torch.device | str = "cpu",
    out=None,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> np.ndarray:
    """Richardson-Lucy over ``volume (C, Z, Y, X)`` tile by tile, each channel by ``psf (dz, dy,
    dx)`` on the volume's grid (:func:`checked_psf`); ``(C, Z, Y, X)`` float32 in the input's
    intensity units. ``tile`` defaults to at least :data:`MIN_TILE` and 4 PSF widths per axis."""
    check_settings(iterations, tv)
    psf = checked_psf(psf)
    shape = tuple(volume.shape[1:])
    tile = tuple(tile or (min(s, max(MIN_TILE, 4 * n)) for s, n in zip(shape, psf.shape)))
    overlap = min(0.5, max(0.25, max(2 * (n // 2) / t for n, t in zip(psf.shape, tile))))
    kernel = torch.from_numpy(psf)

    def predict(batch: torch.Tensor) -> torch.Tensor:
        return richardson_lucy(batch, kernel, iterations, tv)

    return predict_tiled(
        predict, volume, len(volume), tile, overlap, device=device, out=out, progress=progress, cancel=cancel
    )


def deblur_input(
    card,
    volume,
    psf: np.ndarray | None,
    *,
    device: torch.device | str = "cpu",
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
):
    """What a deblurring model of ``card`` reads from ``volume (C, Z, Y, X)``: the volume itself,
    or, for a model that refines Richardson-Lucy (``card.deconvolution``), its deconvolution
    by ``psf`` (on the volume's grid) with the card's settings. A clear error where the PSF is
    missing, or given to a model that would ignore it."""
    if not card.deconvolution:
        if psf is not None:
            raise BadInputError(
                f"model {card.name!r} reads the image alone and would ignore the PSF; drop the PSF, or deconvolve "
                "with Richardson-Lucy alone (--method rl)"
            )
        return volume
    if psf is None:
        raise BadInputError(
            f"model {card.name!r} refines a Richardson-Lucy deconvolution: give the microscope's PSF "
            "(--psf PSF.tif or --psf-sigma Z Y X in um; psf= or psf_sigma= in Python)"
        )
    settings = card.deconvolution
    return deconvolve(
        volume, psf, settings["iterations"], settings["tv"], device=device, progress=progress, cancel=cancel
    )
