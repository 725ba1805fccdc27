import numpy as np
import pytest

from napari_bright4b.analysis.metrics import (
    classification_metrics,
    image_metrics,
    instance_metrics,
    segmentation_metrics,
)

VOXEL = (0.5, 0.2, 0.2)
SHAPE = (40, 100, 100)


def sphere(radius_um: float, centre_um=(10.0, 10.0, 10.0)) -> np.ndarray:
    grids = np.meshgrid(*[np.arange(n) * v for n, v in zip(SHAPE, VOXEL)], indexing="ij")
    return sum((g - c) ** 2 for g, c in zip(grids, centre_um)) <= radius_um**2


def test_concentric_anisotropic_spheres_have_known_distances():
    inner, outer = sphere(4.0), sphere(6.0)
    m = segmentation_metrics(inner, outer, VOXEL)
    # every surface point of one sphere lies 2 um from the other: HD, HD95 and ASD are 2 um
    for key in ("hausdorff", "hd95", "asd"):
        assert m[key] == pytest.approx(2.0, abs=0.3), key
    assert m["dice"] == pytest.approx(2 * 4**3 / (4**3 + 6**3), abs=0.02)
    assert m["precision"] == pytest.approx(1.0)
    assert m["recall"] == pytest.approx(4**3 / 6**3, abs=0.02)
    assert m["relative_volume_error"] == pytest.approx(4**3 / 6**3 - 1, abs=0.03)
    assert m["component_count_error"] == 0


def test_identical_and_empty_masks_never_give_nan():
    s = sphere(3.0)
    same = segmentation_metrics(s, s, VOXEL)
    assert same["dice"] == 1 and same["hausdorff"] == 0 and same["relative_volume_error"] == 0
    empty = np.zeros(SHAPE, bool)
    both_empty = segmentation_metrics(empty, empty, VOXEL)
    assert both_empty["dice"] == 1 and both_empty["hd95"] == 0
    missed = segmentation_metrics(empty, s, VOXEL)
    diagonal = float(np.linalg.norm(np.multiply(SHAPE, VOXEL)))
    assert missed["dice"] == 0 and missed["hd95"] == pytest.approx(diagonal)
    assert missed["component_count_error"] == 1
    assert all(np.isfinite(v) for v in missed.values())


def test_instance_metrics_split_and_merge():
    truth = np.zeros((4, 20, 20), int)
    truth[:, :, :10], truth[:, :, 10:] = 1, 2
    perfect = instance_metrics(truth, truth)
    assert perfect["voi"] == pytest.approx(0) and perfect["arand"] == pytest.approx(0)
    merged = instance_metrics(np.ones_like(truth), truth)
    assert merged["voi_merge"] == pytest.approx(1.0) and merged["voi_split"] == pytest.approx(0)
    assert merged["arand"] > 0


def test_image_and_classification_metrics():
    rng = np.random.default_rng(0)
    reference = rng.random((8, 32, 32))
    assert image_metrics(reference, reference)["ssim"] == pytest.approx(1.0)
    noisy = image_metrics(reference + rng.normal(0, 0.2, reference.shape), reference)
    assert noisy["ssim"] < 0.9 and 5 < noisy["psnr"] < 30
    m = classification_metrics([0, 1, 1, 2], [0, 1, 2, 2], classes=3)
    assert m["accuracy"] == pytest.approx(0.75)
    assert m["macro_f1"] == pytest.approx((1 + 2 / 3 + 2 / 3) / 3)
