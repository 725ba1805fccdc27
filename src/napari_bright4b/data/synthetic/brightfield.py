"""Simulated 3D brightfield stacks of hiPSC-like colonies, with ground truth.

Image formation, first-order (weak object) and through focus:

1. a refractive-index map: medium, cytoplasm, nuclei with a denser envelope, nucleoli,
   mitochondria and membranes, with textured cytoplasm and chromatin;
2. phase per slice ``phi = 2 pi / lambda * dn * dz`` (radians) and a weak absorption;
3. the stack is the sum over object slices of their defocused transfer functions
   ``2 sin(pi lambda_m dz k^2)`` (phase) and ``-2 cos(pi lambda_m dz k^2)``
   (absorption), cut off at ``NA / lambda`` and damped by the partial-coherence envelope
   ``exp(-(pi alpha dz k)^2)``; the phase term is odd in defocus, so contrast inverts
   across focus. Other transmitted-light modes (``contrast``) replace the phase term:
   ``dic``, the difference of two copies of the field sheared by ``shear_um`` along
   ``shear_angle`` (``2i sin(pi s k_s) cos(chi)``: relief shading, strongest in focus);
   ``phase``, a Zernike ring that turns in-focus phase into intensity above
   ``ring_cutoff_per_um`` (``2 cos(chi) (1 - exp(-(k / k_ring)^2))``: halos around
   objects); ``polarity`` -1 inverts the phase contrast of any mode;
4. halos (a difference of Gaussians of the index map), a lateral blur that grows with
   depth (aberration), uneven illumination, depth attenuation;
5. Poisson shot noise times the camera's ``gain`` and Gaussian read noise on a camera
   offset, in counts, clipped at the camera's full scale, and with ``bit_depth`` rounded
   to whole counts below ``2^bit_depth``.

Every optical and biological parameter but the wavelength, the contrast mode and its
parameters, and the camera's gain, bit depth and full scale (fixed unless overridden) is
drawn at random per volume, from the ranges of the first
bundled organelle model; ``brightfield_ranges.py`` widens them by overrides.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.fft
from scipy import ndimage
from scipy.special import expit

from .colony import Colony, override, simulate_colony
from .fields import smooth_noise

ALLEN_VOXEL_SIZE = (0.29, 0.108, 0.108)
STRUCTURES = ("nuclei", "nucleoli", "mitochondria")
WAVELENGTH_UM = 0.55
MEDIUM_INDEX = 1.337
CAMERA_OFFSET = 100.0
LATERAL_PAD_UM = 3.0


@dataclass(frozen=True)
class BrightfieldSample:
    """``image (Z, Y, X)`` float32 camera counts, its colony ground truth and the optics drawn."""

    image: np.ndarray
    colony: Colony
    optics: dict

    @property
    def voxel_size(self) -> tuple[float, float, float]:
        return self.colony.voxel_size

    def masks(self) -> np.ndarray:
        """``(3, Z, Y, X)`` uint8 masks in :data:`STRUCTURES` order."""
        c = self.colony
        return np.stack([c.nuclei > 0, c.nucleoli, c.mitochondria]).astype(np.uint8)


def index_contrast(colony: Colony, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """Refractive index minus the medium's, ``(Z, Y, X)`` float32, and the values drawn."""
    c, shape, voxel = colony, colony.cells.shape, colony.voxel_size
    p = {
        "cytoplasm": rng.uniform(0.012, 0.025),
        # nucleoplasm relative to cytoplasm: usually lower, sometimes higher, never equal
        # (quantitative phase imaging measures |dn| of about 0.005-0.015 in cultured cells)
        "nucleus": rng.choice([-1.0, 1.0], p=[0.7, 0.3]) * rng.uniform(0.005, 0.012),
        "envelope": rng.uniform(0.01, 0.02),
        "nucleolus": rng.uniform(0.012, 0.03),
        # above the cytoplasm: 1.37-1.41 in all, up to the 1.41 +- 0.01 measured on single
        # isolated mitochondria (Haseda et al. 2015, Biomed. Opt. Express 6:859)
        "mitochondrion": rng.uniform(0.02, 0.05),
        "membrane": rng.uniform(0.002, 0.008),
        "granules": rng.uniform(0.003, 0.008),  # granular cytoplasm
        "chromatin": rng.uniform(0.001, 0.003),  # smoother nucleoplasm
    }
    inside = c.cells > 0
    nuclei = c.nuclei > 0
    envelope = nuclei & ~ndimage.binary_erosion(nuclei, iterations=1)
    granules = smooth_noise(rng, shape, voxel, 0.35)
    chromatin = smooth_noise(rng, shape, voxel, 0.8)
    dn = (
        inside * p["cytoplasm"]
        + (inside & ~nuclei) * (p["granules"] * granules)
        + nuclei * (p["nucleus"] + p["chromatin"] * chromatin)
        + envelope * p["envelope"]
        + c.nucleoli * p["nucleolus"]
        + c.mitochondria * p["mitochondrion"]
        + c.membranes * p["membrane"]
    )
    return dn.astype(np.float32), p


def through_focus_transfer(shape: Sequence[int], voxel_size: Sequence[float], optics: dict) -> tuple:
    """Phase and absorption transfer functions over ``(2Z, Y, X//2+1)``, FFT'd along z."""
    z, y, x = shape
    vz, vy, vx = voxel_size
    defocus = (np.fft.fftfreq(2 * z) * 2 * z * vz).astype(np.float32)[:, None, None]
    k2 = (np.fft.fftfreq(y, d=vy)[:, None] ** 2 + np.fft.rfftfreq(x, d=vx)[None, :] ** 2).astype(np.float32)
    k = np.sqrt(k2)
    wavelength = optics["wavelength_um"]
    cutoff = optics["na"] / wavelength
    aperture = expit((cutoff - k) / (0.04 * cutoff))  # a soft-edged pupil
    envelope = np.exp(-((np.pi * optics["condenser_angle"] * defocus * k) ** 2)) * aperture
    chi = np.pi * (wavelength / MEDIUM_INDEX) * defocus * k2
    phase = scipy.fft.fft(
        optics.get("polarity", 1.0) * phase_transfer(chi, (y, x), voxel_size, optics) * envelope, axis=0, workers=-1
    )
    absorption = scipy.fft.fft(-2 * np.cos(chi) * envelope, axis=0, workers=-1)
    return phase.astype(np.complex64), absorption.astype(np.complex64)


def phase_transfer(chi: np.ndarray, shape: Sequence[int], voxel_size: Sequence[float], optics: dict) -> np.ndarray:
    """The phase term of ``optics["contrast"]`` (module docstring; plain brightfield if it has
    none) at defocus phase ``chi`` ``(2Z, Y, X//2+1)`` for lateral ``shape`` (Y, X) at
    ``voxel_size`` (z, y, x) um."""
    mode = optics.get("contrast", "brightfield")
    if mode == "brightfield":
        return 2 * np.sin(chi)
    ky = np.fft.fftfreq(shape[0], d=voxel_size[1])[:, None].astype(np.float32)
    kx = np.fft.rfftfreq(shape[1], d=voxel_size[2])[None, :].astype(np.float32)
    if mode == "dic":
        along = kx * np.cos(optics["shear_angle"]) + ky * np.sin(optics["shear_angle"])
        return 2j * np.sin(np.pi * optics["shear_um"] * along) * np.cos(chi)
    if mode == "phase":
        ring = 1 - np.exp(-(kx**2 + ky**2) / optics["ring_cutoff_per_um"] ** 2)
        return 2 * np.cos(chi) * ring
    raise ValueError(f"contrast must be 'brightfield', 'dic' or 'phase', got {mode!r}")


def form_image(dn: np.ndarray, voxel_size: Sequence[float], optics: dict) -> np.ndarray:
    """Relative intensity ``1 + contrast`` of a through-focus stack of the index map ``dn``.

    The object is zero-padded to twice its depth (no wrap-around in z) and mirrored by
    ``LATERAL_PAD_UM`` in y and x (no wrap-around seams at the borders)."""
    z, y, x = dn.shape
    margin = [min(n - 1, int(np.ceil(LATERAL_PAD_UM / v))) for n, v in zip((y, x), voxel_size[1:])]
    padded = np.pad(dn, [(0, z)] + [(m, m) for m in margin], "reflect")
    phi = (2 * np.pi / optics["wavelength_um"]) * voxel_size[0] * padded
    phi[z:] = 0
    spectrum = scipy.fft.fft(scipy.fft.rfft2(phi, workers=-1), axis=0, workers=-1)
    phase_tf, absorption_tf = through_focus_transfer((z, *phi.shape[1:]), voxel_size, optics)
    combined = spectrum * (phase_tf + optics["absorption_ratio"] * absorption_tf)
    stack = scipy.fft.irfft2(scipy.fft.ifft(combined, axis=0, workers=-1), s=phi.shape[1:], workers=-1)
    contrast = stack[:z, margin[0] : margin[0] + y, margin[1] : margin[1] + x].real.astype(np.float32)
    # the absorption transfer is not zero-mean: remove the flat field it adds
    contrast -= np.float32(np.median(contrast[:, :4, :4]))
    narrow = ndimage.gaussian_filter(dn, [0.6 / v for v in voxel_size])
    wide = ndimage.gaussian_filter(dn, [2.0 / v for v in voxel_size])
    contrast += optics["halo"] * (wide - narrow) / 0.02
    return 1.0 + contrast


def depth_blur(image: np.ndarray, voxel_size: Sequence[float], growth_um_per_um: float) -> np.ndarray:
    """Blur each z-slice laterally by a Gaussian whose sigma grows with depth (um per um)."""
    out = np.empty_like(image)
    for i, plane in enumerate(image):
        sigma_um = growth_um_per_um * i * voxel_size[0]
        out[i] = ndimage.gaussian_filter(plane, [sigma_um / v for v in voxel_size[1:]]) if sigma_um > 0 else plane
    return out


def simulate_brightfield(
    shape: Sequence[int] = (48, 256, 256),
    voxel_size: Sequence[float] = ALLEN_VOXEL_SIZE,
    seed: int = 0,
    *,
    overrides: Mapping[str, float] | None = None,
    colony: Mapping[str, float] | None = None,
) -> BrightfieldSample:
    """A random colony imaged in brightfield: ``shape`` (Z, Y, X) at ``voxel_size`` (z, y, x) um.

    ``overrides`` replace drawn optics (``na``, ``photons``, ... as in ``optics``) and ``colony``
    drawn colony parameters (see :func:`simulate_colony`), each after it is drawn, so that the
    other values are drawn as without them (e.g. imaging conditions outside the drawn ranges)."""
    shape = tuple(int(n) for n in shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"shape must be 3 positive sizes (Z, Y, X), got {shape}")
    rng = np.random.default_rng(seed)
    geometry = simulate_colony(rng, shape, voxel_size, colony)
    dn, indices = index_contrast(geometry, rng)
    drawn = {
        "na": rng.uniform(0.7, 1.2),
        "condenser_angle": rng.uniform(0.2, 0.5),
        "absorption_ratio": rng.uniform(0.02, 0.12),
        "halo": rng.uniform(0.02, 0.08),
        "depth_blur": rng.uniform(0.0, 0.03),
        "attenuation_um": rng.uniform(30.0, 90.0),
        "illumination": rng.uniform(0.02, 0.08),  # after flat-field correction
        "photons": rng.uniform(300.0, 3000.0),
        "read_noise": rng.uniform(1.5, 6.0),
        # not drawn here: the randomized ranges (brightfield_ranges.py) override them
        "wavelength_um": WAVELENGTH_UM,
        "full_scale": float("inf"),  # the camera's largest count; brighter voxels saturate
        "contrast": "brightfield",
        "polarity": 1.0,
        "shear_um": 0.2,  # dic
        "shear_angle": np.pi / 4,  # dic, radians from x
        "ring_cutoff_per_um": 0.25,  # phase
        "gain": 1.0,  # counts per photo-electron
        "bit_depth": 0,  # 0: counts are not rounded
    }
    optics = override(drawn, overrides, "optics")
    voxel = geometry.voxel_size
    relative = depth_blur(form_image(dn, voxel, optics), voxel, optics["depth_blur"])
    illumination = 1 + optics["illumination"] * smooth_noise(rng, shape[1:], voxel[1:], 25.0)
    attenuation = np.exp(-np.arange(shape[0]) * voxel[0] / optics["attenuation_um"])
    expected = np.clip(relative * illumination[None] * attenuation[:, None, None], 0, None) * optics["photons"]
    counts = rng.poisson(expected).astype(np.float32) * np.float32(optics["gain"])
    counts += rng.normal(CAMERA_OFFSET, optics["read_noise"], size=shape).astype(np.float32)
    counts = np.minimum(counts, np.float32(optics["full_scale"]))
    if optics["bit_depth"]:
        counts = np.clip(np.round(counts), 0, 2 ** optics["bit_depth"] - 1)
    return BrightfieldSample(counts, geometry, {**optics, "index": indices})
