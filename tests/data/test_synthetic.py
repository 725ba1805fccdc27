import numpy as np
import pytest

from napari_bright4b.data.synthetic.brightfield import (
    ALLEN_VOXEL_SIZE,
    STRUCTURES,
    form_image,
    simulate_brightfield,
)
from napari_bright4b.data.synthetic.fields import ball, smooth_noise, tubes

SHAPE = (24, 96, 96)


@pytest.fixture(scope="module")
def sample():
    return simulate_brightfield(SHAPE, ALLEN_VOXEL_SIZE, seed=3)


def test_ground_truth_is_consistent(sample):
    colony = sample.colony
    masks = sample.masks()
    assert masks.shape == (len(STRUCTURES), *SHAPE) and masks.dtype == np.uint8
    assert colony.nuclei.max() >= 1, "a 10 um field holds at least one nucleus"
    assert not np.any(colony.nucleoli & (colony.nuclei == 0)), "nucleoli lie inside nuclei"
    assert not np.any(colony.mitochondria & (colony.nuclei > 0)), "mitochondria lie outside nuclei"
    assert np.all(colony.cells[colony.nuclei > 0] > 0), "nuclei lie inside cells"
    assert np.isfinite(sample.image).all() and sample.image.dtype == np.float32


def test_seeded_and_varied():
    a = simulate_brightfield((12, 64, 64), seed=5)
    b = simulate_brightfield((12, 64, 64), seed=5)
    c = simulate_brightfield((12, 64, 64), seed=6)
    np.testing.assert_array_equal(a.image, b.image)
    assert not np.array_equal(a.image, c.image)
    assert a.optics["na"] != c.optics["na"], "optics are drawn per volume"


def test_phase_contrast_inverts_across_focus():
    """A thin phase sheet imaged through focus: the contrast of a feature above focus is
    the opposite of the same feature below focus, and zero in focus (a pure phase object)."""
    voxel = (0.3, 0.1, 0.1)
    dn = np.zeros((33, 64, 64), np.float32)
    dn[16, 28:36, 28:36] = 0.02
    optics = {"na": 1.0, "condenser_angle": 0.3, "absorption_ratio": 0.0, "halo": 0.0}
    contrast = form_image(dn, voxel, optics) - 1
    above, below = contrast[16 - 4, 32, 32], contrast[16 + 4, 32, 32]
    assert abs(above) > 1e-3
    assert np.sign(above) == -np.sign(below)
    np.testing.assert_allclose(above, -below, rtol=1e-3)
    assert abs(contrast[16, 32, 32]) < 1e-3 * abs(above) + 1e-6


def test_smooth_noise_is_standardized_and_ball_is_anisotropic():
    field = smooth_noise(np.random.default_rng(0), (10, 40, 50), (0.3, 0.1, 0.1), 1.0)
    assert field.shape == (10, 40, 50)
    assert abs(field.mean()) < 1e-5 and abs(field.std() - 1) < 1e-4
    element = ball(0.3, (0.3, 0.1, 0.1))
    assert element.shape == (3, 7, 7) and element[1, 3, 3] and not element[0, 0, 0]


def _walk_extent(tortuosity: float, seed: int) -> float:
    """The largest distance (um) between two voxels of one 40 um walk from the grid's centre."""
    allowed = np.ones((81, 81, 81), bool)
    start = [np.ravel_multi_index((40, 40, 40), allowed.shape)]
    rng = np.random.default_rng(seed)
    walk = tubes(rng, allowed, (1.0, 1.0, 1.0), 1, (40.0, 40.0), 0.5, 1.0, 0.5, start, tortuosity)
    points = np.argwhere(walk).astype(float)
    return float(np.sqrt(((points[:, None] - points[None]) ** 2).sum(-1)).max())


def test_tortuosity_sets_how_straight_a_walk_is():
    straight = [_walk_extent(0.02, seed) for seed in range(4)]  # capillaries: end to end close to 40 um
    curled = [_walk_extent(0.15, seed) for seed in range(4)]  # organelles curl within a few um
    assert min(straight) > 35 and max(curled) < min(straight) - 5, (straight, curled)
