import numpy as np
import pytest

from napari_bright4b.errors import BadInputError
from napari_bright4b.inference.resample import resize, target_shape


def test_target_shape_follows_the_voxel_size_ratio_and_ignores_tiny_differences():
    assert target_shape((30, 200, 100), (0.29, 0.108, 0.108), (0.29, 0.108, 0.108)) == (30, 200, 100)
    assert target_shape((30, 200, 100), (0.58, 0.216, 0.108), (0.29, 0.108, 0.108)) == (60, 400, 100)
    assert target_shape((30, 200, 100), (0.295, 0.108, 0.108), (0.29, 0.108, 0.108)) == (30, 200, 100)
    assert target_shape((1, 5, 5), (0.1, 0.01, 0.01), (2.0, 0.108, 0.108))[0] == 1


def test_resize_round_trips_shape_and_smooth_content():
    z, y, x = np.meshgrid(np.linspace(0, 1, 12), np.linspace(0, 1, 40), np.linspace(0, 1, 30), indexing="ij")
    volume = np.sin(3 * z + 2 * y + x)[None].astype(np.float32)
    there = resize(volume, (24, 80, 45))
    back = resize(there, volume.shape[1:])
    assert there.shape == (1, 24, 80, 45) and back.shape == volume.shape
    assert np.abs(back - volume).max() < 0.05
    assert resize(volume, volume.shape[1:]) is volume


@pytest.mark.parametrize("bad", [(0.3, 0.1), (0.3, -0.1, 0.1), (0.3, float("nan"), 0.1)])
def test_bad_voxel_sizes_are_refused(bad):
    with pytest.raises(BadInputError, match="voxel size"):
        target_shape((4, 4, 4), bad, (1, 1, 1))
