import numpy as np
import pytest
import torch

from napari_bright4b.nn.padding import crop_to, mirror_indices, pad_to_multiple, padded_shape


@pytest.mark.parametrize("size,total", [(5, 8), (7, 12), (4, 4), (3, 9)])
def test_mirror_indices_match_numpy_reflect(size, total):
    data = np.arange(size)
    expected = np.pad(data, (0, total - size), mode="reflect") if total - size < size else None
    got = data[mirror_indices(size, total).numpy()]
    if expected is not None:
        assert np.array_equal(got, expected)
    # Long pads keep mirroring with period 2n - 2.
    period = 2 * size - 2
    if total > period:
        assert np.array_equal(got[period:], got[: total - period])
    assert got.min() >= 0 and got.max() < size


def test_single_slice_pads_by_repetition():
    assert mirror_indices(1, 4).tolist() == [0, 0, 0, 0]


def test_pad_then_crop_round_trips_any_shape():
    x = torch.randn(1, 2, 1, 17, 33)
    padded = pad_to_multiple(x, (4, 64, 64))
    assert padded.shape[-3:] == padded_shape((1, 17, 33), (4, 64, 64)) == (4, 64, 64)
    assert torch.equal(crop_to(padded, (1, 17, 33)), x)
