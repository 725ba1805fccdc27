"""The PSF a user would give for a simulated blur: exact for the Gaussian and widefield
kinds, the main lobe plus the halo for the light sheet, stretched by ``scale``."""

import numpy as np
import pytest

from napari_bright4b.data.synthetic.lightsheet import LIGHTSHEET_VOXEL_SIZE, apply_blur, draw_blur
from napari_bright4b.data.synthetic.lightsheet_ranges import RANDOMIZED
from napari_bright4b.data.synthetic.nominal_psf import nominal_psf
from napari_bright4b.data.synthetic.widefield import mirrored_convolution, widefield_psf
from napari_bright4b.inference.deconvolution import gaussian_psf

SHAPE = (24, 48, 48)


def blur_of(kind: str, seed: int = 0) -> dict:
    return draw_blur(np.random.default_rng(seed), SHAPE[2] * LIGHTSHEET_VOXEL_SIZE[2], kind, RANDOMIZED)


def second_moments(psf: np.ndarray) -> np.ndarray:
    """The kernel's variance along each axis, voxels squared."""
    grids = np.meshgrid(*[np.arange(n) - n // 2 for n in psf.shape], indexing="ij")
    return np.array([(psf * g**2).sum() for g in grids])


@pytest.mark.parametrize("kind", ["gaussian", "light-sheet", "depth", "widefield"])
def test_every_kind_gives_a_centred_kernel_summing_to_one_within_the_volume(kind):
    psf = nominal_psf(blur_of(kind), LIGHTSHEET_VOXEL_SIZE, SHAPE)
    assert psf.dtype == np.float32 and psf.sum() == pytest.approx(1.0, abs=1e-5)
    assert all(n % 2 == 1 and n <= 2 * s - 1 for n, s in zip(psf.shape, SHAPE))
    assert np.unravel_index(psf.argmax(), psf.shape) == tuple(n // 2 for n in psf.shape)


def test_the_gaussian_kind_is_its_exact_psf():
    blur = {"kind": "gaussian", "lateral_um": 1.5, "axial_um": 4.0}
    psf = nominal_psf(blur, LIGHTSHEET_VOXEL_SIZE, SHAPE)
    np.testing.assert_allclose(psf, gaussian_psf((4.0, 1.5, 1.5), LIGHTSHEET_VOXEL_SIZE), atol=1e-6)
    volume = np.random.default_rng(1).random(SHAPE).astype(np.float32)
    np.testing.assert_allclose(
        mirrored_convolution(volume, psf), apply_blur(volume, LIGHTSHEET_VOXEL_SIZE, blur), atol=2e-3
    )


def test_the_widefield_kind_is_its_exact_psf():
    blur = blur_of("widefield")
    expected = widefield_psf(LIGHTSHEET_VOXEL_SIZE, blur["lateral_um"], blur["cone_slope"], blur["defocus_um"], SHAPE)
    np.testing.assert_array_equal(nominal_psf(blur, LIGHTSHEET_VOXEL_SIZE, SHAPE), expected)


def test_the_light_sheet_is_as_thick_as_the_sheet_on_average_and_carries_its_halo():
    blur = {**blur_of("light-sheet"), "waist_um": 3.0, "rayleigh_um": 1e6, "scatter": 0.0}  # a flat sheet
    plain = nominal_psf(blur, LIGHTSHEET_VOXEL_SIZE, SHAPE)
    assert np.sqrt(second_moments(plain)[0]) * LIGHTSHEET_VOXEL_SIZE[0] == pytest.approx(3.0, rel=0.05)
    with_halo = nominal_psf({**blur, "scatter": 0.2, "scatter_um": 8.0}, LIGHTSHEET_VOXEL_SIZE, SHAPE)
    assert with_halo.max() == pytest.approx(0.8 * plain.max(), rel=0.05)  # the peak loses the halo's share
    assert np.all(second_moments(with_halo) > second_moments(plain))


def test_scale_stretches_the_axial_and_lateral_widths_apart():
    blur = {"kind": "gaussian", "lateral_um": 1.5, "axial_um": 4.0}
    base = second_moments(nominal_psf(blur, LIGHTSHEET_VOXEL_SIZE, SHAPE))
    wide = second_moments(nominal_psf(blur, LIGHTSHEET_VOXEL_SIZE, SHAPE, (1.0, 1.3)))
    tall = second_moments(nominal_psf(blur, LIGHTSHEET_VOXEL_SIZE, SHAPE, (1.3, 1.0)))
    np.testing.assert_allclose(np.sqrt(wide / base), [1.0, 1.3, 1.3], rtol=0.03)
    np.testing.assert_allclose(np.sqrt(tall / base), [1.3, 1.0, 1.0], rtol=0.03)
