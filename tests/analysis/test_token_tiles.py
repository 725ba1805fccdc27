"""Tiles over the token lattice: each token's value lands once, at its own patch."""

import numpy as np
import pytest
import torch

from napari_bright4b.analysis.token_tiles import token_tiles
from napari_bright4b.nn.padding import pad_to_multiple

PATCH, BRICK = (2, 16, 16), (2, 4, 4)


def patch_means(volume: np.ndarray, multiple) -> np.ndarray:
    """Each token's patch mean, for a volume mirror-padded as the model pads it."""
    padded = pad_to_multiple(torch.from_numpy(volume)[None, None], multiple)[0, 0].numpy()
    (pz, py, px), (z, y, x) = PATCH, padded.shape
    return padded.reshape(z // pz, pz, y // py, py, x // px, px).mean(axis=(1, 3, 5))


@pytest.mark.parametrize("shape", [(13, 150, 100), (40, 64, 300), (7, 17, 33)])
def test_stitched_tiles_put_every_patch_in_its_place_once(shape):
    volume = np.random.default_rng(1).random(shape).astype(np.float32)
    tokens = tuple(-(-s // p) for s, p in zip(shape, PATCH))
    stitched, count = np.zeros(tokens, np.float32), np.zeros(tokens, int)
    tiles = token_tiles(shape, PATCH, BRICK, (8, 128, 128), overlap=0.5)
    for tile in tiles:
        assert all(w.start % (p * b) == 0 for w, p, b in zip(tile.voxels, PATCH, BRICK))  # bricks align
        own = patch_means(volume[tile.voxels], (4, 64, 64))
        stitched[tile.place] = own[tile.keep]
        count[tile.place] += 1
    assert (count == 1).all()
    np.testing.assert_array_equal(stitched, patch_means(volume, (4, 64, 64))[: tokens[0], : tokens[1], : tokens[2]])
    if shape == (40, 64, 300):
        assert len(tiles) > 4


def test_overlapping_tiles_give_each_token_to_the_tile_it_is_most_central_in():
    tiles = token_tiles((32, 64, 64), PATCH, BRICK, (16, 64, 64), overlap=0.5)
    spans = [(t.voxels[0].start // 2, t.voxels[0].stop // 2, t.place[0]) for t in tiles]
    assert spans == [(0, 8, slice(0, 6)), (4, 12, slice(6, 10)), (8, 16, slice(10, 16))]
    (single,) = token_tiles((32, 64, 64), PATCH, BRICK, (64, 128, 128), overlap=0.25)
    assert single.voxels == (slice(0, 32), slice(0, 64), slice(0, 64))
    assert single.keep == single.place == (slice(0, 16), slice(0, 4), slice(0, 4))  # in tokens
