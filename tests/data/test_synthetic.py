import numpy as np
import pytest

from napari_bright4b.data.synthetic.brightfield import (
    ALLEN_VOXEL_SIZE,
    STRUCTURES,
    form_image,
    simulate_brightfield,
)
from napari_bright4b.data.synthetic.fields import ball, smooth_noise, thicken, tubes

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
    optics = {"na": 1.0, "condenser_angle": 0.3, "absorption_ratio": 0.0, "halo": 0.0, "wavelength_um": 0.55}
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


def _line_along_x(z_um: float) -> np.ndarray:
    """Points every 0.05 um along x at height ``z_um``, through the middle of y."""
    x = np.arange(0.5, 2.5, 0.05)
    return np.stack([np.full_like(x, z_um), np.full_like(x, 0.54), x], axis=1)


@pytest.mark.parametrize(("z_um", "slices"), [(0.29, [1]), (0.145, [0, 1]), (0.2, [0, 1])])
def test_thicken_measures_from_the_points_not_their_voxels(z_um, slices):
    """A 0.25 um tube on 0.29 um z-slices: one slice when its axis is on a slice, both
    neighbours when the axis lies between them (its 0.5 um diameter spans both)."""
    voxel = (0.29, 0.108, 0.108)
    tube = thicken(_line_along_x(z_um), (4, 11, 30), voxel, 0.25)
    assert sorted(np.flatnonzero(tube.any(axis=(1, 2)))) == slices
    grid = np.argwhere(tube) * np.asarray(voxel)
    points = _line_along_x(z_um)
    nearest = np.sqrt(((grid[:, None] - points[None]) ** 2).sum(-1)).min(1)
    assert nearest.max() <= 0.25 + 1e-6, "every voxel lies within the radius of the centreline"
    if len(slices) == 1:
        assert tube[1, :, 15].sum() == 5, "across y: the voxels within 0.25 um, 2 either side of the axis"


def test_thicken_keeps_a_tube_thinner_than_the_grid():
    voxel = (2.0, 1.0, 1.0)  # light-sheet voxels; a 0.3 um neurite at 0.9 um from the slice centre
    tube = thicken(_line_along_x(0.9) * [1, 10, 1], (3, 8, 4), voxel, 0.3)
    assert tube[0].any() and not tube[1:].any(), "the voxels holding the centreline are kept"


def _relative_noise(image: np.ndarray) -> float:
    """Spread of neighbouring-voxel differences along x relative to the mean signal above the offset."""
    return float(np.diff(image, axis=-1).std() / (image.mean() - 100.0))


def test_overrides_replace_drawn_values_and_leave_the_rest():
    shape, voxel = (8, 48, 48), (0.3, 0.12, 0.12)
    plain = simulate_brightfield(shape, voxel, seed=9)
    bright = simulate_brightfield(shape, voxel, seed=9, overrides={"photons": 1e6, "read_noise": 0})
    dim = simulate_brightfield(shape, voxel, seed=9, overrides={"photons": 50})
    assert bright.optics["photons"] == 1e6 and bright.optics["read_noise"] == 0 and dim.optics["photons"] == 50
    for sample in (bright, dim):
        np.testing.assert_array_equal(sample.colony.nuclei, plain.colony.nuclei)
        np.testing.assert_array_equal(sample.colony.mitochondria, plain.colony.mitochondria)
        assert sample.optics["na"] == plain.optics["na"] and sample.optics["halo"] == plain.optics["halo"]
    assert _relative_noise(bright.image) < 0.5 * _relative_noise(dim.image)


def test_colony_overrides_and_unknown_keys():
    shape, voxel = (8, 48, 48), (0.3, 0.12, 0.12)
    plain = simulate_brightfield(shape, voxel, seed=9)
    big = simulate_brightfield(shape, voxel, seed=9, colony={"cell_spacing_um": 15, "nucleoli_per_nucleus": 2.0})
    drawn, changed = plain.colony.parameters, big.colony.parameters
    assert changed["cell_spacing_um"] == 15.0 and changed["nucleoli_per_nucleus"] == 2
    assert isinstance(changed["nucleoli_per_nucleus"], int), "cast to the drawn type"
    assert {k: v for k, v in changed.items() if k not in ("cell_spacing_um", "nucleoli_per_nucleus")} == {
        k: v for k, v in drawn.items() if k not in ("cell_spacing_um", "nucleoli_per_nucleus")
    }
    with pytest.raises(ValueError, match=r"unknown optics override\(s\) \['photon'\]; allowed: .*photons"):
        simulate_brightfield(shape, voxel, seed=9, overrides={"photon": 10})
    with pytest.raises(ValueError, match=r"unknown colony override\(s\) \['spacing'\]; allowed: .*cell_spacing_um"):
        simulate_brightfield(shape, voxel, seed=9, colony={"spacing": 10})


def test_structure_map_gives_each_voxel_its_innermost_structure(sample):
    from napari_bright4b.data.synthetic.colony import STRUCTURES, structure_map

    colony = sample.colony
    structures = structure_map(colony)
    assert structures.dtype == np.uint8 and set(np.unique(structures)) <= set(range(len(STRUCTURES)))
    assert (structures[colony.nucleoli] == 3).all()  # nucleoli over their nuclei
    assert (structures[(colony.cells == 0)] == 0).all()  # outside the cells
    assert np.array_equal(structures == 2, (colony.nuclei > 0) & ~colony.nucleoli & ~colony.mitochondria)
