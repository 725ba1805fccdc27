import numpy as np
import pytest

from napari_bright4b.errors import BadInputError
from napari_bright4b.inference.predict import predict_probabilities
from napari_bright4b.models.card import ModelCard
from napari_bright4b.models.checkpoint import build_model
from napari_bright4b.models.config import PRESETS, HeadConfig


@pytest.fixture(scope="module")
def nano():
    preset = PRESETS["nano"]
    card = ModelCard(
        name="t",
        config=preset.config,
        head=HeadConfig(class_names=("a", "b")),
        voxel_size=(0.3, 0.1, 0.1),
        tile=(8, 64, 64),
    )
    return build_model(card).eval(), card


def test_outputs_keep_the_input_grid_under_anisotropic_resampling(nano):
    model, card = nano
    volume = np.random.default_rng(0).integers(0, 1000, size=(1, 5, 37, 29)).astype(np.uint16)
    original = volume.copy()
    probs = predict_probabilities(model, card, volume, voxel_size=(0.6, 0.15, 0.2))
    assert probs.shape == (2, 5, 37, 29) and probs.dtype == np.float32
    assert (probs >= 0).all() and (probs <= 1).all()
    assert np.array_equal(volume, original)


def test_constant_volumes_are_refused(nano):
    model, card = nano
    with pytest.raises(BadInputError, match="constant"):
        predict_probabilities(model, card, np.zeros((1, 4, 32, 32), np.float32))
