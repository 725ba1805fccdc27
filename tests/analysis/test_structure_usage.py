"""Expert usage per structure: tokens take their majority structure, usage per structure sums
to 1 over experts and follows the labels, and the mutual information measures it in bits."""

import numpy as np
import pytest

from napari_bright4b.analysis.inspection import Inspection
from napari_bright4b.analysis.structure_usage import mutual_information_bits, structure_usage, token_structures
from napari_bright4b.analysis.token_grid import TokenGrid
from napari_bright4b.errors import BadInputError

GRID = TokenGrid((4, 16, 16), (1.0, 1.0, 1.0), (4, 16, 16), (2, 4, 4))  # 2 x 4 x 4 tokens


def inspection_with(usage: np.ndarray) -> Inspection:
    layers, _, *tokens = usage.shape
    return Inspection("m", GRID, np.zeros((layers, *tokens), np.float32), usage, None, {}, 1, 0.1, "cpu")


def test_tokens_take_the_structure_most_of_their_voxels_belong_to():
    labels = np.zeros(GRID.input_shape, np.uint8)
    labels[:, :, :8] = 2  # the left half of x is nuclei
    labels[0, 0, 8] = 1  # one stray voxel does not outvote its token
    tokens = token_structures(labels, GRID, 3)
    assert tokens.shape == GRID.shape
    assert (tokens[:, :, :2] == 2).all() and (tokens[:, :, 2:] == 0).all()
    with pytest.raises(BadInputError, match="0..2"):
        token_structures(labels + 1, GRID, 3)
    with pytest.raises(BadInputError, match="must match the image"):
        token_structures(labels[:2], GRID, 3)


def test_usage_per_structure_sums_to_one_and_follows_the_labels():
    tokens = np.zeros(GRID.shape, np.int64)
    tokens[:, :, 2:] = 1  # two structures, half the tokens each
    usage = np.zeros((2, 2, *GRID.shape), np.float32)
    usage[0, 0] = np.where(tokens == 0, 0.9, 0.2)  # layer 1: expert 0 mostly for structure 0
    usage[0, 1] = 1 - usage[0, 0]
    usage[1] = 0.5  # layer 2: uniform
    report = structure_usage(inspection_with(usage), tokens, ["outside", "nuclei", "nucleoli"])
    assert report["structures"] == ["outside", "nuclei"] and report["tokens"] == {"outside": 16, "nuclei": 16}
    first, second = report["layers"]
    assert first["usage"]["outside"] == pytest.approx([0.9, 0.1]) and first["usage"]["nuclei"] == pytest.approx(
        [0.2, 0.8]
    )
    assert all(sum(u) == pytest.approx(1.0) for layer in report["layers"] for u in layer["usage"].values())
    assert first["mutual_information_bits"] == pytest.approx(1.0)  # the dominant expert tells the structure
    assert second["mutual_information_bits"] == pytest.approx(0.0)


def test_mutual_information_of_independent_labelings_is_zero():
    a = np.repeat([0, 1], 50)
    b = np.tile([0, 1], 50)
    assert mutual_information_bits(a, b) == pytest.approx(0.0, abs=1e-12)
    assert mutual_information_bits(a, a) == pytest.approx(1.0)
