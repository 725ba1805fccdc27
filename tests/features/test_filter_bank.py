"""The filter bank: closed-form eigenvalues, derivatives per micrometre, scales in micrometres,
and the voxel-grid family instant mode uses by default."""

import numpy as np
import pytest

from napari_bright4b.features.filter_bank import (
    PER_SCALE,
    default_sigmas,
    feature_names,
    filter_bank,
    symmetric_eigenvalues,
)


def test_closed_form_eigenvalues_match_numpy():
    rng = np.random.default_rng(0)
    m = rng.normal(size=(500, 3, 3)).astype(np.float32)
    m = m + m.transpose(0, 2, 1)
    m[:3] = np.diag([2.0, 2.0, 2.0])  # repeated eigenvalues (p = 0) too
    eigen = symmetric_eigenvalues(m[:, 0, 0], m[:, 1, 1], m[:, 2, 2], m[:, 0, 1], m[:, 0, 2], m[:, 1, 2])
    np.testing.assert_allclose(eigen.T, np.linalg.eigvalsh(m), atol=1e-4)


def test_layout_and_names():
    sigmas = default_sigmas((0.5, 0.25, 0.25), scales=3)
    assert sigmas == (0.25, 0.5, 1.0)
    out = filter_bank(np.zeros((6, 10, 12), np.float32), (0.5, 0.25, 0.25), sigmas)
    assert out.shape == (6, 10, 12, 1 + len(PER_SCALE) * 3) and out.dtype == np.float32
    assert len(feature_names(sigmas)) == out.shape[-1]


def test_gradient_is_per_micrometre_along_an_anisotropic_axis():
    voxel = (0.5, 0.1, 0.1)
    z_um = np.arange(20) * voxel[0]
    ramp = np.broadcast_to((2.0 * z_um)[:, None, None], (20, 16, 16)).astype(np.float32)  # 2 per um in z
    out = filter_bank(ramp, voxel, (0.2,))
    gradient = out[5:15, 4:12, 4:12, 1 + PER_SCALE.index("gradient")]
    np.testing.assert_allclose(gradient, 2.0, rtol=1e-3)


def ball_centre_features(voxel) -> np.ndarray:
    """The features at the centre of a ball of radius 2 um sampled at ``voxel``, at 1 um."""
    shape = [int(round(12 / v)) + 1 for v in voxel]
    grid = np.meshgrid(*[np.arange(n) * v - 6 for n, v in zip(shape, voxel)], indexing="ij")
    ball = (sum(g * g for g in grid) <= 4.0).astype(np.float32)
    return filter_bank(ball, voxel, (1.0,))[tuple(n // 2 for n in shape)]


def test_a_ball_looks_the_same_at_any_z_sampling():
    """Smoothing and derivatives are in um: a ball sampled every 1 um in z gives, at its centre,
    the smoothed value, Laplacian and Hessian of the same ball sampled every 0.25 um (within the
    finite differences' error over 1 um)."""
    fine, coarse = ball_centre_features((0.25, 0.25, 0.25)), ball_centre_features((1.0, 0.25, 0.25))
    assert fine[1] == pytest.approx(coarse[1], rel=0.05)
    laplacian = 1 + PER_SCALE.index("laplacian")
    assert fine[laplacian] < -0.5 and coarse[laplacian] == pytest.approx(fine[laplacian], rel=0.1)
    hessian = 1 + PER_SCALE.index("hessian_1")
    np.testing.assert_allclose(fine[hessian : hessian + 3], fine[hessian], rtol=1e-3)  # a ball curves alike
    np.testing.assert_allclose(coarse[hessian : hessian + 3], fine[hessian : hessian + 3], rtol=0.2)


def test_voxel_grid_scales_follow_the_filter_bank_and_are_scikit_image_features():
    from skimage.feature import multiscale_basic_features

    image = np.random.default_rng(0).random((8, 20, 24)).astype(np.float32)
    sigmas = (0.2, 0.4)
    out = filter_bank(image, (1.0, 0.2, 0.2), sigmas, voxel_scales=2)
    names = feature_names(sigmas, voxel_scales=2)
    assert out.shape[-1] == len(names) == 1 + len(PER_SCALE) * 2 + 5 * 2
    np.testing.assert_array_equal(out[..., : 1 + len(PER_SCALE) * 2], filter_bank(image, (1.0, 0.2, 0.2), sigmas))
    expected = multiscale_basic_features(image, sigma_min=1, sigma_max=2, num_sigma=2)  # 1 and 2 voxels on every axis
    np.testing.assert_allclose(out[..., -10:], expected, atol=1e-6)
    assert names[-5] == "voxel gaussian 2 vx"


def test_a_feature_spec_saved_before_the_voxel_grid_scales_reads_back_without_them():
    from napari_bright4b.features.voxel_features import FeatureSpec

    spec = FeatureSpec(base="bright4b-nano-organelles")
    assert spec.voxel_scales > 0 and not spec.micrometre and FeatureSpec.from_dict(spec.to_dict()) == spec
    old = {k: v for k, v in spec.to_dict().items() if k not in ("voxel_scales", "micrometre")}
    assert FeatureSpec.from_dict(old).voxel_scales == 0 and FeatureSpec.from_dict(old).micrometre


def test_the_micrometre_family_is_computed_only_when_asked_for():
    from napari_bright4b.features.voxel_features import FeatureSpec, compute_features

    image = np.random.default_rng(0).random((1, 6, 16, 16)).astype(np.float32)
    voxel = compute_features(image, (1.0, 0.2, 0.2))
    both = compute_features(image, (1.0, 0.2, 0.2), FeatureSpec(micrometre=True))
    assert voxel.spec.sigmas_um == () and all(n.startswith("voxel ") for n in voxel.names) and len(voxel.names) == 20
    assert len(both.spec.sigmas_um) == 5 and both.names[-len(voxel.names) :] == voxel.names
    np.testing.assert_array_equal(both.array[..., -len(voxel.names) :], voxel.array)
