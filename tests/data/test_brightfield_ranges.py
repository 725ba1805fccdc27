"""The randomized brightfield imaging: each drawn parameter moves the image as intended, the
classic simulator is a corner of the ranges, and the held-out low NA is never drawn for
training."""

import dataclasses

import numpy as np
import pytest

from napari_bright4b.data.synthetic.brightfield import CAMERA_OFFSET, simulate_brightfield
from napari_bright4b.data.synthetic.brightfield_ranges import (
    EXTENT_UM,
    HELD_OUT_LOW_NA,
    RANDOMIZED,
    RANGES,
    TRAINING,
    draw_conditions,
)

SHAPE, VOXEL = (16, 64, 64), (0.4, 0.2, 0.2)
# the classic simulator's ranges (brightfield.py and colony.py), one corner of the randomized space
CLASSIC = {"na": (0.7, 1.2), "condenser_angle": (0.2, 0.5), "halo": (0.02, 0.08), "illumination": (0.02, 0.08)}
CLASSIC |= {"photons": (300.0, 3000.0), "read_noise": (1.5, 6.0), "cell_spacing_um": (7.0, 11.0)}
CLASSIC |= {"nucleus_fraction": (0.28, 0.4), "lateral_um": (0.108, 0.108), "axial_um": (0.29, 0.29)}


def test_the_classic_ranges_lie_inside_the_randomized_ones():
    for field, (low, high) in CLASSIC.items():
        wide_low, wide_high = getattr(RANDOMIZED, field)
        assert wide_low <= low and high <= wide_high, field


def test_draws_stay_in_their_ranges_and_training_never_draws_the_held_out_low_na():
    training = [draw_conditions(TRAINING, seed) for seed in range(300)]
    assert min(c.optics["na"] for c in training) >= 0.5
    held_out = [draw_conditions(HELD_OUT_LOW_NA, seed) for seed in range(50)]
    assert all(0.3 <= c.optics["na"] <= 0.5 for c in held_out)
    for c in training:
        assert RANDOMIZED.lateral_um[0] <= c.voxel_size[1] == c.voxel_size[2] <= RANDOMIZED.lateral_um[1]
        assert RANDOMIZED.axial_um[0] <= c.voxel_size[0] <= RANDOMIZED.axial_um[1]
        assert all(abs(n * v - e) <= v for n, v, e in zip(c.shape, c.voxel_size, EXTENT_UM))  # the same field
        assert RANDOMIZED.photons[0] <= c.optics["photons"] <= RANDOMIZED.photons[1]
    photons = np.log10([c.optics["photons"] for c in training])
    assert np.mean(photons < 3) == pytest.approx(0.685, abs=0.06)  # log-uniform: log(1000/30) / log(5000/30)
    assert draw_conditions(TRAINING, 7) == draw_conditions(TRAINING, 7)


def high_frequency_share(image: np.ndarray, voxel: float, cutoff_per_um: float) -> float:
    """The share of the in-focus-slice's contrast power above ``cutoff_per_um`` (cycles/um)."""
    plane = image[image.shape[0] // 2] - image[image.shape[0] // 2].mean()
    power = np.abs(np.fft.rfft2(plane)) ** 2
    k = np.hypot(
        *np.meshgrid(np.fft.fftfreq(plane.shape[0], voxel), np.fft.rfftfreq(plane.shape[1], voxel), indexing="ij")
    )
    return float(power[k > cutoff_per_um].sum() / power.sum())


def simulate(**optics):
    quiet = {"photons": 1e6, "read_noise": 0.01, "halo": 0.0, "illumination": 0.0, "depth_blur": 0.0}
    return simulate_brightfield(SHAPE, VOXEL, seed=4, overrides={**quiet, **optics})


def test_a_longer_wavelength_or_a_lower_na_passes_less_fine_detail():
    sharp, red, low_na = (simulate(wavelength_um=w, na=na) for w, na in ((0.45, 1.0), (0.65, 1.0), (0.45, 0.4)))
    shares = [high_frequency_share(s.image, VOXEL[1], 1.2) for s in (sharp, red, low_na)]
    assert shares[1] < shares[0] and shares[2] < 0.5 * shares[0]


def test_photons_set_the_relative_noise_and_the_full_scale_saturates():
    bright, dim = simulate(photons=5000.0, read_noise=2.0), simulate(photons=30.0, read_noise=2.0)
    clean = simulate(photons=1e6)
    relative = [np.std(s.image / s.optics["photons"] - clean.image / 1e6) for s in (bright, dim)]
    assert relative[1] > 5 * relative[0]  # shot noise ~ 1 / sqrt(photons): sqrt(5000 / 30) = 13
    full_scale = CAMERA_OFFSET + 1.05 * 1000.0
    clipped = simulate(photons=1000.0, full_scale=full_scale)
    assert clipped.image.max() == pytest.approx(full_scale) and np.mean(clipped.image == clipped.image.max()) > 0.01


def test_wider_cell_spacing_gives_fewer_larger_nuclei():
    counts = {}
    for spacing in (6.0, 20.0):
        sample = simulate_brightfield((12, 160, 160), (0.6, 0.25, 0.25), 2, colony={"cell_spacing_um": spacing})
        counts[spacing] = len(np.unique(sample.colony.nuclei)) - 1
    assert counts[6.0] > 3 * max(counts[20.0], 1)


def test_the_ranges_are_frozen_and_named():
    with pytest.raises(dataclasses.FrozenInstanceError):
        TRAINING.na = (0.1, 2.0)
    assert RANGES == {"randomized": RANDOMIZED, "training": TRAINING, "held-out-low-na": HELD_OUT_LOW_NA}
