"""The widefield PSF of the light-sheet simulator's ``widefield`` blur kind (epifluorescence,
no optical sectioning).

Every plane of the sample reaches the camera: light from a plane ``dz`` um from focus
spreads over a disc of radius ``|dz| * cone_slope`` (geometric optics;
``cone_slope = tan(alpha)`` with ``sin(alpha) = NA / n``, about 0.2 at NA 0.3 in water and
2.3 at NA 1.4 in oil), and each plane passes the same energy. A plane is drawn as a
Gaussian of the in-focus lateral sigma widened by its disc (a disc of radius ``R`` has the
RMS radius of a Gaussian of sigma ``R / 2``), over ``±defocus_um`` of depth; light from
farther planes is left out. The result is the haze that widefield deconvolution removes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import signal


def widefield_psf(
    voxel_size: Sequence[float], lateral_um: float, cone_slope: float, defocus_um: float, within: Sequence[int]
) -> np.ndarray:
    """The PSF ``(dz, dy, dx)`` float32 summing to 1, every plane carrying the same energy,
    on a grid of ``voxel_size`` (z, y, x, um) and no larger than ``2 * within - 1`` per axis
    (``within``: the shape of the volume it blurs)."""
    vz, vy, vx = voxel_size
    half_z = min(int(defocus_um / vz), within[0] - 1)
    sigma = np.hypot(lateral_um, cone_slope * np.abs(np.arange(-half_z, half_z + 1)) * vz / 2)  # um
    half_y, half_x = (min(math.ceil(3 * sigma.max() / v), n - 1) for v, n in zip((vy, vx), within[1:]))
    yy = (np.arange(-half_y, half_y + 1) * vy)[None, :, None]
    xx = (np.arange(-half_x, half_x + 1) * vx)[None, None, :]
    planes = np.exp(-0.5 * (yy**2 + xx**2) / sigma[:, None, None] ** 2)
    planes /= planes.sum(axis=(1, 2), keepdims=True) * len(sigma)
    return planes.astype(np.float32)


def mirrored_convolution(volume: np.ndarray, psf: np.ndarray) -> np.ndarray:
    """``volume (Z, Y, X)`` convolved with ``psf`` (odd sizes, centred, each at most
    ``2 * volume.shape - 1``) by FFT, mirrored at the borders; float32."""
    padded = np.pad(volume, [(n // 2, n // 2) for n in psf.shape], mode="symmetric")
    return signal.fftconvolve(padded, psf, mode="valid").astype(np.float32)


def widefield_blur(volume: np.ndarray, voxel_size: Sequence[float], blur: dict) -> np.ndarray:
    """``volume (Z, Y, X)`` through :func:`widefield_psf` with ``blur``'s ``lateral_um``,
    ``cone_slope`` and ``defocus_um``, mirrored at the borders; float32."""
    psf = widefield_psf(voxel_size, blur["lateral_um"], blur["cone_slope"], blur["defocus_um"], volume.shape)
    return mirrored_convolution(volume, psf)
