import numpy as np
import pytest
from scipy import ndimage

from napari_bright4b.data.synthetic.lightsheet import (
    LIGHTSHEET_VOXEL_SIZE,
    STAINS,
    apply_blur,
    draw_blur,
    simulate_lightsheet,
)

SHAPE = (16, 48, 48)


@pytest.mark.parametrize("stain", STAINS)
def test_every_stain_makes_a_consistent_volume(stain):
    sample = simulate_lightsheet(SHAPE, seed=1, stain=stain)
    assert sample.stain == stain and sample.voxel_size == LIGHTSHEET_VOXEL_SIZE
    assert sample.image.shape == sample.sharp.shape == sample.mask.shape == SHAPE
    assert sample.image.dtype == sample.sharp.dtype == np.float32 and sample.mask.dtype == bool
    assert np.isfinite(sample.image).all() and sample.sharp.min() > 0
    if stain == "autofluorescence":
        assert not sample.mask.any()
    else:
        assert sample.mask.any(), f"{stain}: the labelled structure is in the field"
        assert sample.sharp[sample.mask].mean() > sample.sharp[~sample.mask].mean()


def test_seeded_and_random_stain():
    a, b = simulate_lightsheet(SHAPE, seed=4), simulate_lightsheet(SHAPE, seed=4)
    np.testing.assert_array_equal(a.image, b.image)
    assert {simulate_lightsheet((4, 16, 16), seed=s).stain for s in range(40)} == set(STAINS)
    with pytest.raises(ValueError, match="stain must be one of"):
        simulate_lightsheet(SHAPE, stain="dapi")


def test_blur_makes_pairs_less_similar_than_identity():
    sample = simulate_lightsheet(SHAPE, seed=2, stain="nuclear")
    assert np.corrcoef(sample.image.ravel(), sample.sharp.ravel())[0, 1] < 0.999
    assert sample.image.std() < sample.sharp.std(), "blur lowers the contrast of small objects"


def _point_spread(blur: dict, voxel=(1.0, 1.0, 1.0), shape=(41, 9, 81)):
    """Blur a row of points along x in the middle plane; second moment in z per x (um^2)."""
    volume = np.zeros(shape, np.float32)
    volume[shape[0] // 2, shape[1] // 2, ::8] = 1.0
    blurred = apply_blur(volume, voxel, blur)
    profile = blurred[:, shape[1] // 2, ::8]
    z = (np.arange(shape[0]) - shape[0] // 2)[:, None] * voxel[0]
    return (profile * z**2).sum(0) / profile.sum(0), blurred, volume


def test_gaussian_blur_has_the_drawn_sigmas_and_keeps_mass():
    blur = {"kind": "gaussian", "lateral_um": 1.5, "axial_um": 3.0}
    variance, blurred, volume = _point_spread(blur)
    np.testing.assert_allclose(variance, 3.0**2, rtol=0.02)
    np.testing.assert_allclose(blurred.sum(), volume.sum(), rtol=1e-4)


def test_light_sheet_thickens_away_from_its_waist():
    blur = {
        "kind": "light-sheet",
        "lateral_um": 1.0,
        "waist_um": 2.0,
        "rayleigh_um": 20.0,
        "waist_x_um": 0.0,
        "scatter": 0.0,
        "scatter_um": 10.0,
    }
    variance, _, _ = _point_spread(blur)
    assert np.all(np.diff(variance) > 0), "the sheet widens with distance from the waist"
    x = np.arange(0, 81, 8.0)
    expected = (2.0 * np.sqrt(1 + (x / 20.0) ** 2)) ** 2
    np.testing.assert_allclose(variance, expected, rtol=0.08)


def test_light_sheet_with_a_flat_sheet_equals_the_gaussian():
    volume = np.random.default_rng(0).random((12, 20, 24)).astype(np.float32)
    flat = {"kind": "light-sheet", "lateral_um": 1.2, "waist_um": 2.5, "rayleigh_um": 1e9}
    flat |= {"waist_x_um": 5.0, "scatter": 0.0, "scatter_um": 8.0}
    gaussian = {"kind": "gaussian", "lateral_um": 1.2, "axial_um": 2.5}
    voxel = LIGHTSHEET_VOXEL_SIZE
    np.testing.assert_allclose(apply_blur(volume, voxel, flat), apply_blur(volume, voxel, gaussian), atol=1e-5)
    reference = ndimage.gaussian_filter(volume, [2.5 / 2.0, 1.2, 1.2])
    np.testing.assert_allclose(apply_blur(volume, voxel, gaussian), reference, atol=1e-6)


def test_draw_blur_kinds():
    rng = np.random.default_rng(0)
    assert {draw_blur(rng, 96.0)["kind"] for _ in range(20)} == {"gaussian", "light-sheet"}
    with pytest.raises(ValueError, match="blur kind"):
        draw_blur(rng, 96.0, "motion")
