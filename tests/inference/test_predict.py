import numpy as np
import pytest

from napari_bright4b.errors import BadInputError
from napari_bright4b.inference.predict import run_model, volume_probabilities
from napari_bright4b.models.card import ModelCard
from napari_bright4b.models.checkpoint import build_model
from napari_bright4b.models.config import HeadConfig
from napari_bright4b.models.presets import PRESETS


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
    probs = run_model(model, card, volume, voxel_size=(0.6, 0.15, 0.2))
    assert probs.shape == (2, 5, 37, 29) and probs.dtype == np.float32
    assert (probs >= 0).all() and (probs <= 1).all()
    assert np.array_equal(volume, original)


def test_constant_volumes_are_refused(nano):
    model, card = nano
    with pytest.raises(BadInputError, match="constant"):
        run_model(model, card, np.zeros((1, 4, 32, 32), np.float32))


def _card(head, **kwargs):
    return ModelCard(name="t", config=PRESETS["nano"].config, head=head, tile=(8, 64, 64), **kwargs)


def test_deblurring_returns_the_image_in_its_own_units():
    card = _card(HeadConfig(task="deblur", class_names=("sharp",)))
    model = build_model(card).eval()
    for param in model.head.parameters():
        param.data.zero_()  # a zero residual: the output must be the input, in the input's units
    volume = np.random.default_rng(1).integers(100, 5000, size=(1, 6, 40, 30)).astype(np.uint16)
    sharp = run_model(model, card, volume)
    assert sharp.shape == volume.shape and sharp.dtype == np.float32
    np.testing.assert_allclose(sharp, volume.astype(np.float32), rtol=1e-5, atol=1e-2)


def test_classification_gives_a_class_map_and_one_distribution_per_volume():
    card = _card(HeadConfig(task="classify", class_names=("nuclear", "vessel", "plaque")))
    model = build_model(card).eval()
    volume = np.random.default_rng(2).normal(size=(1, 12, 100, 70)).astype(np.float32)
    class_map = run_model(model, card, volume)
    assert class_map.shape == (3, 12, 100, 70)
    np.testing.assert_allclose(class_map.sum(0), 1.0, atol=1e-5)
    probs = volume_probabilities(class_map)
    assert probs.shape == (3,) and np.isclose(probs.sum(), 1.0) and (probs > 0).all()


def test_zarr_output_equals_the_in_memory_result(nano, tmp_path):
    zarr = pytest.importorskip("zarr")
    model, card = nano
    volume = np.random.default_rng(3).normal(size=(1, 6, 40, 30)).astype(np.float32)
    out = zarr.create_array(
        str(tmp_path / "p.zarr"), shape=(2, 6, 40, 30), dtype="f4", chunks=(1, 4, 32, 32), fill_value=0
    )
    run_model(model, card, volume, out=out)
    np.testing.assert_allclose(out[...], run_model(model, card, volume), atol=1e-6)
