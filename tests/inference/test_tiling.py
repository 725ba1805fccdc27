import numpy as np
import pytest

from napari_bright4b.inference.tiling import TileGrid, axis_starts, taper


@pytest.mark.parametrize("length,tile,overlap", [(100, 32, 8), (33, 32, 8), (32, 32, 8), (7, 32, 8), (250, 64, 16)])
def test_tiles_cover_the_axis_with_at_least_the_overlap(length, tile, overlap):
    starts = axis_starts(length, tile, overlap)
    size = min(tile, length)
    assert starts[0] == 0 and starts[-1] + size == length
    for a, b in zip(starts, starts[1:]):
        assert b - a <= size - overlap  # neighbours share >= overlap voxels


def test_taper_is_zero_in_the_halo_and_one_inside():
    w = taper(32, 8, left=True, right=True)
    assert (w[:2] == 0).all() and (w[-2:] == 0).all()
    assert (w[8:24] == 1).all() and (w >= 0).all() and (w <= 1).all()
    assert (taper(32, 8, left=False, right=False) == 1).all()


@pytest.mark.parametrize("overlap", [0.0, 0.25, 0.5])
def test_weights_sum_to_one_at_every_voxel_and_vanish_only_near_inner_edges(overlap):
    grid = TileGrid((21, 45, 50), (8, 16, 16), overlap=overlap)
    total = np.zeros(grid.shape, np.float32)
    for window in grid:
        weight = grid.weight(window)
        assert weight.shape == tuple(s.stop - s.start for s in window)
        total[window] += weight
    assert len(grid) > 1
    np.testing.assert_allclose(total, 1.0, atol=1e-6)


def test_windows_in_a_region_are_exactly_the_tiles_that_touch_it():
    grid = TileGrid((20, 64, 64), (8, 32, 32), overlap=0.25)
    region = (slice(5, 12), slice(0, 20), slice(40, 64))
    inside = grid.windows_in(region)
    assert inside == [w for w in grid if w in inside]  # grid order
    for window in grid:
        touches = all(w.start < r.stop and r.start < w.stop for w, r in zip(window, region))
        assert touches == (window in inside)


def test_small_volumes_and_single_slices_are_one_clipped_tile():
    grid = TileGrid((1, 20, 30), (32, 128, 128))
    assert len(grid) == 1 and grid.tile_shape == (1, 20, 30)
    assert (grid.weight(next(iter(grid))) == 1).all()


def test_rejects_bad_tiling_parameters():
    with pytest.raises(ValueError, match="overlap"):
        TileGrid((4, 4, 4), (2, 2, 2), overlap=1.0)
    with pytest.raises(ValueError, match="tile"):
        TileGrid((4, 4, 4), (0, 2, 2))
