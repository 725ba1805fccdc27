import torch

from napari_bright4b.nn.token_lattice import BlockLattice


def test_block_major_order_makes_each_block_a_brick_and_round_trips():
    lattice = BlockLattice((4, 8, 12), (2, 4, 4))
    n = 4 * 8 * 12
    tokens = torch.arange(n, dtype=torch.float32).view(1, n, 1)
    blocks = lattice.to_blocks(tokens)
    assert torch.equal(lattice.to_raster(blocks), tokens)
    coords = torch.stack(torch.unravel_index(blocks.view(-1).long(), (4, 8, 12)), -1)
    for b in range(lattice.num_blocks):
        brick = coords[b * 32 : (b + 1) * 32]
        extent = brick.max(0).values - brick.min(0).values + 1
        assert extent.tolist() == [2, 4, 4]


def test_neighbours_cover_the_3d_window_and_mask_the_outside():
    lattice = BlockLattice((6, 12, 12), (2, 4, 4))  # 3 x 3 x 3 blocks
    index, valid = lattice.neighbours((1, 1, 1))
    assert index.shape == valid.shape == (27, 27)
    centre = 13  # block (1, 1, 1) sees every block
    assert valid[centre].all() and sorted(index[centre].tolist()) == list(range(27))
    assert valid[0].sum() == 8  # a corner block sees 2 x 2 x 2 blocks


def test_lattice_must_be_a_multiple_of_the_brick():
    try:
        BlockLattice((3, 8, 8), (2, 4, 4))
    except ValueError as err:
        assert "multiple" in str(err)
    else:
        raise AssertionError("expected ValueError")
