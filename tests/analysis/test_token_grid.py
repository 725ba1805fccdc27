"""Token maps line up with the image: a token's pixel covers exactly its patch in world coordinates."""

import numpy as np
import pytest

from napari_bright4b.analysis.token_grid import TokenGrid
from napari_bright4b.inference.resample import resize
from napari_bright4b.models.card import ModelCard
from napari_bright4b.models.presets import PRESETS


def card(voxel_size):
    preset = PRESETS["nano"]
    return ModelCard(name="m", config=preset.config, head=preset.head, voxel_size=voxel_size)


def drawn_extent(scale, translate, index):
    """World (low, high) per axis that napari draws pixel ``index`` of a layer on."""
    centre = np.asarray(translate) + np.asarray(index) * np.asarray(scale)
    return np.stack([centre - np.asarray(scale) / 2, centre + np.asarray(scale) / 2], axis=1)


def test_a_token_covers_its_patch_with_anisotropic_voxels_and_an_odd_shape():
    voxel, translate = (0.7, 0.25, 0.11), (3.0, -2.0, 10.0)
    grid = TokenGrid.for_volume((13, 70, 45), voxel, card(voxel))
    assert grid.model_shape == (13, 70, 45) and grid.shape == (7, 5, 3)  # last tokens overhang
    scale, offset = grid.placement(voxel, translate)
    np.testing.assert_allclose(scale, (1.4, 4.0, 1.76))
    for index in [(0, 0, 0), (3, 2, 1), (6, 4, 2)]:
        first = np.asarray(index) * grid.patch  # the patch's first voxel and one past its last
        patch = np.stack([first - 0.5, first + np.asarray(grid.patch) - 0.5], axis=1)
        voxel_world = np.asarray(translate)[:, None] + patch * np.asarray(voxel)[:, None]
        np.testing.assert_allclose(drawn_extent(scale, offset, index), voxel_world, atol=1e-9)


def test_resampled_input_maps_tokens_through_the_resampler_grid():
    voxel, translate = (0.29, 0.108, 0.108), (1.0, 2.0, 3.0)
    shape = (13, 75, 64)  # 75 -> 37.5 -> 38 model voxels: the model voxel is not exactly the card's
    grid = TokenGrid.for_volume(shape, voxel, card((0.58, 0.216, 0.216)))
    assert grid.model_shape == (6, 38, 32) and grid.shape == (3, 3, 2)
    # Where the resampler puts model voxel j, in input voxel indices: measured on a ramp.
    ramps = np.stack(np.meshgrid(*[np.arange(n, dtype=np.float32) for n in shape], indexing="ij"))
    for axis in range(3):
        resampled = resize(ramps[axis : axis + 1], grid.model_shape)[0]
        centres = np.moveaxis(resampled, axis, 0)[:, 1, 1]  # away from the clamped border
        step = shape[axis] / grid.model_shape[axis]
        inner = slice(1, -1)
        np.testing.assert_allclose(
            centres[inner], (np.arange(grid.model_shape[axis]) + 0.5)[inner] * step - 0.5, atol=1e-4
        )
    scale, offset = grid.placement(voxel, translate)
    for index in [(0, 0, 0), (2, 2, 1)]:
        first = np.asarray(index) * grid.patch
        step = np.asarray(shape) / np.asarray(grid.model_shape)
        patch = np.stack([first * step - 0.5, (first + np.asarray(grid.patch)) * step - 0.5], axis=1)
        world = np.asarray(translate)[:, None] + patch * np.asarray(voxel)[:, None]
        np.testing.assert_allclose(drawn_extent(scale, offset, index), world, atol=1e-9)
    assert grid.model_voxel_size == pytest.approx((0.29 * 13 / 6, 0.108 * 75 / 38, 0.216))


def test_a_layer_without_a_voxel_size_gets_tokens_in_its_own_pixels():
    grid = TokenGrid.for_volume((8, 64, 64), (0.29, 0.108, 0.108), card((0.29, 0.108, 0.108)))
    scale, translate = grid.placement((1.0, 1.0, 1.0), (0.0, 0.0, 0.0))
    assert scale == (2.0, 16.0, 16.0) and translate == (0.5, 7.5, 7.5)
