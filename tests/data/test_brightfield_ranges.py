"""The randomized brightfield imaging: each drawn parameter moves the image as intended, the
classic simulator is a corner of the ranges, and the held-out low NA is never drawn for
training."""

import dataclasses

import numpy as np
import pytest

from napari_bright4b.data.synthetic.brightfield import CAMERA_OFFSET, simulate_brightfield
from napari_bright4b.data.synthetic.brightfield_ranges import (
    EXTENT_UM,
    HELD_OUT_DIC,
    HELD_OUT_LOW_NA,
    HELD_OUT_PHASE,
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
    assert RANGES == {
        "randomized": RANDOMIZED,
        "training": TRAINING,
        "held-out-low-na": HELD_OUT_LOW_NA,
        "held-out-dic": HELD_OUT_DIC,
        "held-out-phase": HELD_OUT_PHASE,
    }


def contrast_of(sample) -> np.ndarray:
    """The in-focus slice's contrast, its mean removed."""
    plane = sample.image[SHAPE[0] // 2].astype(np.float64)
    return plane - plane.mean()


def pure_phase(**optics):
    """:func:`simulate` with the phase term alone (no absorption)."""
    return simulate(absorption_ratio=0.0, **optics)


def test_dic_shades_along_its_shear_and_the_opposite_shear_inverts_it():
    along_x = contrast_of(pure_phase(contrast="dic", shear_angle=0.0))
    reversed_shear = contrast_of(pure_phase(contrast="dic", shear_angle=np.pi))
    assert np.corrcoef(along_x.ravel(), reversed_shear.ravel())[0, 1] < -0.99
    # little contrast from structure that does not change along the shear (k = 0 along it;
    # not none: the field's edges cut the derivative)
    power = np.abs(np.fft.rfft2(along_x)) ** 2
    assert power[:, 0].sum() < 0.2 * power[0, :].sum()
    along_y = np.abs(np.fft.rfft2(contrast_of(pure_phase(contrast="dic", shear_angle=np.pi / 2)))) ** 2
    assert along_y[0, :].sum() < 0.2 * along_y[:, 0].sum()


def test_phase_contrast_passes_no_coarse_structure_and_its_polarity_inverts_it():
    positive = contrast_of(pure_phase(contrast="phase", ring_cutoff_per_um=0.5))
    negative = contrast_of(pure_phase(contrast="phase", ring_cutoff_per_um=0.5, polarity=-1.0))
    assert np.corrcoef(positive.ravel(), negative.ravel())[0, 1] < -0.99
    power = np.abs(np.fft.rfft2(positive)) ** 2
    k = np.hypot(*np.meshgrid(np.fft.fftfreq(SHAPE[1], VOXEL[1]), np.fft.rfftfreq(SHAPE[2], VOXEL[2]), indexing="ij"))
    plain = np.abs(np.fft.rfft2(contrast_of(pure_phase(contrast="phase", ring_cutoff_per_um=1e-3)))) ** 2
    coarse = k < 0.2
    assert power[coarse].sum() / power.sum() < 0.5 * plain[coarse].sum() / plain.sum()
    with pytest.raises(ValueError, match="'brightfield', 'dic' or 'phase'"):
        simulate(contrast="darkfield")


def test_a_camera_bit_depth_gives_whole_counts_within_its_range():
    eight_bit = simulate(photons=200.0, gain=0.5, bit_depth=8, read_noise=2.0).image
    assert eight_bit.max() <= 255 and eight_bit.min() >= 0 and np.array_equal(eight_bit, np.round(eight_bit))


def test_held_out_contrasts_change_the_microscope_and_nothing_else():
    for seed in range(20):
        trained = draw_conditions(TRAINING, seed)
        assert "contrast" not in trained.optics  # plain brightfield: the simulator's own default
        for ranges, mode in ((HELD_OUT_DIC, "dic"), (HELD_OUT_PHASE, "phase")):
            drawn = draw_conditions(ranges, seed)
            assert drawn.optics["contrast"] == mode and drawn.shape == trained.shape and drawn.colony == trained.colony
            assert {k: drawn.optics[k] for k in ("na", "photons", "wavelength_um")} == {
                k: trained.optics[k] for k in ("na", "photons", "wavelength_um")
            }
            filled = (drawn.optics["photons"] * drawn.optics["gain"]) / (
                2 ** drawn.optics["bit_depth"] - 1 - CAMERA_OFFSET
            )
            assert HELD_OUT_DIC.fills[0] <= filled <= HELD_OUT_DIC.fills[1]
            assert drawn.optics["full_scale"] <= 2 ** drawn.optics["bit_depth"] - 1
