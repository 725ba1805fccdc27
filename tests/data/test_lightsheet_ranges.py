"""The randomized light-sheet image formation: each parameter moves the image as intended,
the classic ranges are a corner of the randomized ones, and the held-out corner is never
drawn for training."""

import numpy as np
import pytest

from napari_bright4b.data.synthetic.lightsheet import apply_blur, draw_blur, simulate_lightsheet
from napari_bright4b.data.synthetic.lightsheet_ranges import (
    CLASSIC,
    HELD_OUT_CORNER,
    HELD_OUT_WIDEFIELD,
    RANDOMIZED,
    TRAINING,
    TRAINING_DARK,
    ImagingRanges,
)
from napari_bright4b.data.synthetic.widefield import widefield_psf

SHAPE = (12, 32, 32)


def test_the_classic_ranges_lie_inside_the_randomized_ones():
    for field in ("lateral_um", "axial_um", "waist_um", "scatter", "scatter_um", "tissue", "photons", "read_noise"):
        low, high = getattr(CLASSIC, field)
        wide_low, wide_high = getattr(RANDOMIZED, field)
        assert wide_low <= low and high <= wide_high, field
    assert set(CLASSIC.kinds) < set(RANDOMIZED.kinds)


def test_training_never_draws_the_held_out_corner_and_the_corner_draws_only_it():
    rng = np.random.default_rng(0)
    training = [draw_blur(rng, 96.0, ranges=TRAINING) for _ in range(400)]
    assert not any(TRAINING.excludes(b) for b in training)
    assert {b["kind"] for b in training} == {"gaussian", "light-sheet", "depth"}
    corner = [draw_blur(rng, 96.0, ranges=HELD_OUT_CORNER) for _ in range(20)]
    assert all(b["lateral_um"] >= 2.8 and b["axial_um"] >= 7.0 for b in corner)


def test_depth_blur_grows_from_top_to_bottom():
    volume = np.zeros((40, 9, 9), np.float32)
    volume[5::10, 4, 4] = 1.0  # points at depths 5, 15, 25, 35
    blur = {"kind": "depth", "lateral_um": 1.0, "axial_um": 1.0, "depth_growth": 2.0}
    blurred = apply_blur(volume, (1.0, 1.0, 1.0), blur)
    peaks = [blurred[z, 4, 4] for z in (5, 15, 25, 35)]
    assert np.all(np.diff(peaks) < 0), "deeper points spread wider, so their peaks are lower"
    np.testing.assert_allclose(blurred.sum(), volume.sum(), rtol=0.02)


@pytest.mark.parametrize("photons, relative_noise", [((20.0, 20.1), "high"), ((4000.0, 4000.1), "low")])
def test_photons_set_the_shot_noise(photons, relative_noise):
    ranges = ImagingRanges(photons=photons, kinds=("gaussian",), read_noise=(1.0, 1.01))
    sample = simulate_lightsheet(SHAPE, seed=3, stain="autofluorescence", ranges=ranges)
    signal = sample.sharp - 100.0
    noise = np.std(sample.image - 100.0 - apply_blur(signal, sample.voxel_size, sample.blur))
    ratio = noise / signal.mean()
    assert (ratio > 0.1) if relative_noise == "high" else (ratio < 0.05)


def test_saturation_clips_the_drawn_share_of_voxels_at_one_value():
    ranges = ImagingRanges(saturated=(0.05, 0.0500001))
    sample = simulate_lightsheet(SHAPE, seed=5, stain="nuclear", ranges=ranges)
    at_max = np.mean(sample.image == sample.image.max())
    assert at_max == pytest.approx(0.05, abs=0.01)
    assert "saturated" not in simulate_lightsheet(SHAPE, seed=5, stain="nuclear").blur  # classic: no clipping


def test_log_photons_span_three_decades():
    draws = [simulate_lightsheet((4, 8, 8), seed=s, ranges=RANDOMIZED).blur["photons"] for s in range(60)]
    assert min(draws) < 50 and max(draws) > 500 and all(5 <= p <= 5000 for p in draws)


def test_widefield_planes_carry_equal_energy_and_spread_along_the_cone():
    voxel = (2.0, 1.0, 1.0)
    psf = widefield_psf(voxel, lateral_um=1.0, cone_slope=0.8, defocus_um=20.0, within=(40, 80, 80))
    assert psf.shape[0] == 21 and psf.sum() == pytest.approx(1.0, rel=1e-5)
    np.testing.assert_allclose(psf.sum(axis=(1, 2)), 1 / 21, rtol=1e-4)
    yy, xx = np.indices(psf.shape[1:]) - np.array(psf.shape[1:])[:, None, None] // 2
    radius = np.sqrt((psf * (yy**2 + xx**2)).sum(axis=(1, 2)) / psf.sum(axis=(1, 2)))  # RMS, um
    dz = np.abs(np.arange(-10, 11)) * voxel[0]
    np.testing.assert_allclose(radius, np.sqrt(2) * np.hypot(1.0, 0.8 * dz / 2), rtol=0.05)
    steeper = widefield_psf(voxel, 1.0, 1.4, 20.0, (40, 80, 80))
    assert steeper[0].max() < 0.6 * psf[0].max(), "a steeper cone (higher NA) spreads out-of-focus light wider"


def test_widefield_blur_keeps_mass_and_fills_the_background_with_haze():
    volume = np.zeros((24, 48, 48), np.float32)
    volume[12, 20:28, 20:28] = 1.0  # one bright square in the middle plane
    blur = {"kind": "widefield", "lateral_um": 1.0, "cone_slope": 0.8, "defocus_um": 40.0}
    blurred = apply_blur(volume, (2.0, 1.0, 1.0), blur)
    np.testing.assert_allclose(blurred.sum(), volume.sum(), rtol=1e-3)
    gaussian = apply_blur(volume, (2.0, 1.0, 1.0), {"kind": "gaussian", "lateral_um": 1.0, "axial_um": 3.0})
    far = (slice(0, 3), slice(None), slice(None))  # planes 18-24 um above it
    assert blurred[far].sum() > 0.05 * volume.sum() and gaussian[far].sum() < 1e-6
    assert blurred[12].max() < 0.5 * gaussian[12].max(), "most of its light leaves the focal plane"


def test_the_held_out_widefield_family_is_drawn_alone_and_never_in_training():
    rng = np.random.default_rng(1)
    draws = [draw_blur(rng, 96.0, ranges=HELD_OUT_WIDEFIELD) for _ in range(50)]
    assert {b["kind"] for b in draws} == {"widefield"}
    assert all(0.2 <= b["cone_slope"] <= 1.5 and 10 <= b["defocus_um"] <= 60 for b in draws)
    assert all(b["kind"] != "widefield" for b in (draw_blur(rng, 96.0, ranges=TRAINING) for _ in range(100)))


def test_the_dark_training_ranges_leave_the_field_between_structures_near_the_camera_offset():
    def background(ranges):  # the sharp signal between structures, relative to the structures'
        sample = simulate_lightsheet((16, 48, 48), seed=5, stain="nuclear", ranges=ranges)
        signal = sample.sharp - 100.0
        return np.median(signal[~sample.mask]) / np.median(signal[sample.mask])

    assert background(TRAINING_DARK) < 0.01 < background(TRAINING)
    assert TRAINING_DARK.tissue[0] == 0.0 and TRAINING_DARK.kinds == TRAINING.kinds
