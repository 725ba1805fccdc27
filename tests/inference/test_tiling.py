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


def test_weights_cover_every_voxel_and_vanish_only_near_inner_edges():
    grid = TileGrid((21, 45, 50), (8, 16, 16), overlap=0.5)
    total = np.zeros(grid.shape, np.float32)
    for window in grid:
        weight = grid.weight(window)
        assert weight.shape == tuple(s.stop - s.start for s in window)
        total[window] += weight
    assert len(grid) > 1 and (total > 0).all()


def test_small_volumes_and_single_slices_are_one_clipped_tile():
    grid = TileGrid((1, 20, 30), (32, 128, 128))
    assert len(grid) == 1 and grid.tile_shape == (1, 20, 30)
    assert (grid.weight(next(iter(grid))) == 1).all()


def test_rejects_bad_tiling_parameters():
    with pytest.raises(ValueError, match="overlap"):
        TileGrid((4, 4, 4), (2, 2, 2), overlap=1.0)
    with pytest.raises(ValueError, match="tile"):
        TileGrid((4, 4, 4), (0, 2, 2))
