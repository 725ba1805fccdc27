"""Richardson-Lucy: a known blur is undone (SSIM rises, the error falls towards 0 on a
noise-free toy), tiles agree with the whole volume, and bad PSFs are refused by name."""

import numpy as np
import pytest
import torch
from scipy import ndimage

from napari_bright4b.analysis.metrics import image_metrics
from napari_bright4b.errors import BadInputError
from napari_bright4b.inference.deconvolution import checked_psf, deconvolve, gaussian_psf, richardson_lucy


@pytest.fixture(scope="module")
def toy():
    """Points and a bar on a flat background, blurred by a Gaussian PSF (sigma 1 voxel)."""
    rng = np.random.default_rng(0)
    truth = np.ones((20, 40, 40), np.float32)
    points = rng.integers((2, 4, 4), (18, 36, 36), size=(25, 3))
    truth[tuple(points.T)] = 100.0
    truth[8:12, 10:30, 18:20] = 20.0
    psf = gaussian_psf((1.0, 0.5, 0.5), (1.0, 0.5, 0.5))
    return truth, psf, ndimage.convolve(truth, psf, mode="reflect")


def test_gaussian_psf_is_normalized_centred_and_in_micrometres():
    psf = gaussian_psf((1.0, 0.4, 0.4), (0.5, 0.2, 0.2))  # 2 voxels each way
    assert psf.shape == (13, 13, 13) and psf.sum() == pytest.approx(1.0)
    assert np.unravel_index(psf.argmax(), psf.shape) == (6, 6, 6)
    np.testing.assert_allclose(psf, psf[::-1, ::-1, ::-1])
    with pytest.raises(BadInputError, match="3 positive numbers"):
        gaussian_psf((0.0, 1.0, 1.0), (1.0, 1.0, 1.0))


def test_a_known_blur_is_undone_and_more_iterations_come_closer(toy):
    truth, psf, blurred = toy
    errors = []
    for iterations in (5, 50, 200):
        restored = deconvolve(blurred[None], psf, iterations)[0]
        errors.append(float(np.abs(restored - truth).mean()))
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 0.7 * float(np.abs(blurred - truth).mean())
    assert image_metrics(restored, truth)["ssim"] > image_metrics(blurred, truth)["ssim"] + 0.05
    assert restored.sum() == pytest.approx(blurred.sum(), rel=0.02)  # RL keeps the flux


def test_rl_of_an_unblurred_image_by_a_delta_psf_is_the_image(toy):
    truth, _, _ = toy
    delta = np.zeros((3, 3, 3), np.float32)
    delta[1, 1, 1] = 1
    out = richardson_lucy(torch.from_numpy(truth)[None, None], torch.from_numpy(delta), 10)[0, 0]
    np.testing.assert_allclose(out.numpy(), truth, rtol=1e-4)


def test_tiles_agree_with_the_whole_volume(toy):
    _, psf, blurred = toy
    whole = deconvolve(blurred[None], psf, 10)
    tiled = deconvolve(blurred[None], psf, 10, tile=(20, 24, 24))
    assert np.abs(tiled - whole).max() < 0.02 * whole.max()


def test_total_variation_smooths_noise(toy):
    truth, psf, blurred = toy
    noisy = np.random.default_rng(1).poisson(blurred * 4).astype(np.float32) / 4
    plain = deconvolve(noisy[None], psf, 40)[0]
    smooth = deconvolve(noisy[None], psf, 40, tv=0.01)[0]
    flat = truth == 1
    assert smooth[flat].std() < plain[flat].std()


def test_bad_psfs_and_settings_are_refused_by_name(toy):
    _, psf, blurred = toy
    with pytest.raises(BadInputError, match="PSF.tif must be a 3D"):
        checked_psf(np.zeros((5, 5, 5)), "PSF.tif")
    with pytest.raises(BadInputError, match="3D"):
        checked_psf(np.ones((5, 5)))
    with pytest.raises(BadInputError, match="at least 1 iteration"):
        deconvolve(blurred[None], psf, 0)
    with pytest.raises(BadInputError, match="total-variation"):
        deconvolve(blurred[None], psf, 5, tv=-1)
    boxed = np.zeros((31, 31, 31), np.float32)
    boxed[12:19, 12:19, 12:19] = gaussian_psf((1, 1, 1), (1, 1, 1))[0:7, 0:7, 0:7]
    assert checked_psf(boxed).shape == (7, 7, 7)  # a measured PSF's empty box is cropped


def test_a_deblurring_model_reads_the_image_or_its_deconvolution_as_its_card_says(toy):
    from napari_bright4b.inference.deconvolution import deblur_input
    from napari_bright4b.models.card import ModelCard
    from napari_bright4b.models.config import HeadConfig
    from napari_bright4b.models.presets import PRESETS

    truth, psf, blurred = toy
    head = HeadConfig(task="deblur", class_names=("sharp",))
    blind = ModelCard(name="blind", config=PRESETS["nano"].config, head=head)
    refining = ModelCard(name="refining", config=blind.config, head=head, deconvolution={"iterations": 5, "tv": 0.0})
    volume = blurred[None]
    assert deblur_input(blind, volume, None) is volume
    np.testing.assert_array_equal(deblur_input(refining, volume, psf), deconvolve(volume, psf, 5, 0.0))
    with pytest.raises(BadInputError, match="would ignore the PSF"):
        deblur_input(blind, volume, psf)
    with pytest.raises(BadInputError, match="refines a Richardson-Lucy deconvolution"):
        deblur_input(refining, volume, None)
