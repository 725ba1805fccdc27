"""Wide ranges of brightfield imaging and biology to draw simulated colonies from (um unless noted).

The brightfield simulator (:mod:`.brightfield`) draws its optics and colonies from the
narrow ranges the first organelle model was trained on (NA 0.7-1.2, 300-3000 photons,
cells 7-11 um apart, one voxel size), the classic ranges, which lie inside the ones here.
:data:`RANDOMIZED` widens the ranges of imaging that differ most between the microscopes
users have (absorption, depth blur and attenuation, refractive indices and cell height
keep their classic ranges): objectives from NA 0.3
to 1.4, condenser coherence, wavelength, voxel sizes from 0.08 to 0.4 um laterally and 0.15
to 1 um in z, cells 6-20 um apart with nuclei of 25-50% of the cell, halos, uneven
illumination, 30-5000 photons (log-uniform), read noise and saturation at the camera's
full scale. :data:`TRAINING` leaves out the low-NA region (NA below 0.5), which
:data:`HELD_OUT_LOW_NA` draws from alone: a model trained on the one is scored on a region
of the space it never saw (leave-a-region-out). Two more held-out regions keep the training
ranges but change the microscope's contrast: :data:`HELD_OUT_DIC` (DIC-like relief, a
random shear direction and length) and :data:`HELD_OUT_PHASE` (Zernike phase contrast,
positive or negative, with a random ring size), each with an 8 to 16-bit camera whose gain
puts unit transmission at 20-80% of its range. The values are drawn by a generator of
their own and passed to the simulator as overrides, so each colony's own random stream is
unchanged. docs/models.md lists the ranges with a figure.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .brightfield import CAMERA_OFFSET

Range = tuple[float, float]
EXTENT_UM = (11.6, 36.0, 36.0)  # the simulated field (z, y, x): room for a few cells 20 um apart


@dataclass(frozen=True)
class BrightfieldRanges:
    """(low, high) ranges: objective ``na``; ``condenser_angle`` (the illumination's
    incoherence, in the envelope's units); ``wavelength_um``; ``halo`` and ``illumination``
    (uneven field) strengths; ``photons`` per voxel at unit transmission (log-uniform);
    camera ``read_noise`` (counts) and ``full_scale`` (the largest count, as a multiple of
    the photons above the offset); ``lateral_um`` and ``axial_um`` voxel sizes; the colony's
    ``cell_spacing_um`` and ``nucleus_fraction`` (of the cell's footprint); ``contrasts``, the
    transmitted-light modes drawn from (``brightfield``, ``dic``, ``phase``) with their
    ``shear_um`` and ``ring_cutoff_per_um``, camera ``bit_depths`` and the share of the range
    above the offset that unit transmission ``fills`` (which sets the gain). Plain brightfield
    draws none of those, so its colonies are the same as before they existed."""

    na: Range = (0.3, 1.4)
    condenser_angle: Range = (0.1, 0.6)
    wavelength_um: Range = (0.45, 0.65)
    halo: Range = (0.0, 0.2)
    illumination: Range = (0.0, 0.3)
    photons: Range = (30.0, 5000.0)
    read_noise: Range = (1.0, 8.0)
    full_scale: Range = (1.1, 3.0)
    lateral_um: Range = (0.08, 0.4)
    axial_um: Range = (0.15, 1.0)
    cell_spacing_um: Range = (6.0, 20.0)
    nucleus_fraction: Range = (0.25, 0.5)
    contrasts: tuple[str, ...] = ("brightfield",)
    shear_um: Range = (0.1, 0.4)
    ring_cutoff_per_um: Range = (0.1, 0.5)
    bit_depths: tuple[int, ...] = (8, 10, 12, 16)
    fills: Range = (0.2, 0.8)


@dataclass(frozen=True)
class Conditions:
    """One colony's drawn imaging: ``shape`` (Z, Y, X) covering :data:`EXTENT_UM` at
    ``voxel_size`` (z, y, x) um, and the simulator's ``optics`` and ``colony`` overrides."""

    shape: tuple[int, int, int]
    voxel_size: tuple[float, float, float]
    optics: dict
    colony: dict


RANDOMIZED = BrightfieldRanges()
TRAINING = replace(RANDOMIZED, na=(0.5, 1.4))
HELD_OUT_LOW_NA = replace(RANDOMIZED, na=(0.3, 0.5))
HELD_OUT_DIC = replace(TRAINING, contrasts=("dic",))
HELD_OUT_PHASE = replace(TRAINING, contrasts=("phase",))
RANGES = {"randomized": RANDOMIZED, "training": TRAINING, "held-out-low-na": HELD_OUT_LOW_NA}
RANGES |= {"held-out-dic": HELD_OUT_DIC, "held-out-phase": HELD_OUT_PHASE}


def draw_conditions(ranges: BrightfieldRanges, seed: int) -> Conditions:
    """The imaging of colony ``seed`` drawn from ``ranges`` by a generator of its own."""
    rng = np.random.default_rng([seed, 20])

    def uniform(span: Range) -> float:
        return float(rng.uniform(*span))

    photons = float(np.exp(rng.uniform(*np.log(ranges.photons))))
    optics = {
        "na": uniform(ranges.na),
        "condenser_angle": uniform(ranges.condenser_angle),
        "wavelength_um": uniform(ranges.wavelength_um),
        "halo": uniform(ranges.halo),
        "illumination": uniform(ranges.illumination),
        "photons": photons,
        "read_noise": uniform(ranges.read_noise),
    }
    optics["full_scale"] = CAMERA_OFFSET + photons * uniform(ranges.full_scale)
    voxel = (uniform(ranges.axial_um), uniform(ranges.lateral_um))
    voxel_size = (round(voxel[0], 4), round(voxel[1], 4), round(voxel[1], 4))
    shape = tuple(max(8, round(e / v)) for e, v in zip(EXTENT_UM, voxel_size))
    colony = {"cell_spacing_um": uniform(ranges.cell_spacing_um), "nucleus_fraction": uniform(ranges.nucleus_fraction)}
    if ranges.contrasts != ("brightfield",):  # drawn last: brightfield colonies keep their stream
        optics |= _contrast(ranges, rng, optics)
    return Conditions(shape, voxel_size, optics, colony)


def _contrast(ranges: BrightfieldRanges, rng: np.random.Generator, optics: dict) -> dict:
    """A contrast mode, its parameters and a camera (bit depth, gain) drawn from ``ranges``;
    the full scale becomes the largest count the bit depth holds, if that is lower."""
    mode = str(rng.choice(ranges.contrasts))
    bits = int(rng.choice(ranges.bit_depths))
    gain = float(rng.uniform(*ranges.fills)) * (2.0**bits - 1 - CAMERA_OFFSET) / optics["photons"]
    drawn = {"contrast": mode, "gain": gain, "bit_depth": bits, "polarity": float(rng.choice([-1.0, 1.0]))}
    drawn["full_scale"] = min(CAMERA_OFFSET + (optics["full_scale"] - CAMERA_OFFSET) * gain, 2.0**bits - 1)
    if mode == "dic":
        drawn |= {"shear_um": float(rng.uniform(*ranges.shear_um)), "shear_angle": float(rng.uniform(0, np.pi))}
    elif mode == "phase":
        drawn["ring_cutoff_per_um"] = float(rng.uniform(*ranges.ring_cutoff_per_um))
    return drawn
