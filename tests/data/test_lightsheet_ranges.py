"""The randomized light-sheet image formation: each parameter moves the image as intended,
the classic ranges are a corner of the randomized ones, and the held-out corner is never
drawn for training."""

import numpy as np
import pytest

from napari_bright4b.data.synthetic.lightsheet import apply_blur, draw_blur, simulate_lightsheet
from napari_bright4b.data.synthetic.lightsheet_ranges import (
    CLASSIC,
    HELD_OUT_CORNER,
    RANDOMIZED,
    TRAINING,
    ImagingRanges,
)

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
