"""A model's per-voxel features: through the engine, on the input's grid, the head's own output
among them, and the same tiled as in one piece."""

import numpy as np
import pytest

from napari_bright4b.features.model_features import model_feature_names, model_features
from napari_bright4b.features.voxel_features import FeatureSpec, compute_features
from napari_bright4b.inference.predict import run_model
from napari_bright4b.models.checkpoint import load_checkpoint
from tests.training.finetune.test_finetune import save_toy_base

VOXEL = (1.0, 0.5, 0.5)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    path = save_toy_base(tmp_path_factory.mktemp("base"), VOXEL)
    return path, load_checkpoint(path)


@pytest.fixture(scope="module")
def image():
    return np.random.default_rng(0).normal(100, 10, (1, 20, 40, 48)).astype(np.float32)


def test_features_hold_the_heads_probabilities(base, image):
    _, (model, card) = base
    features = model_features(model, card, image, VOXEL, layers=(-1, 0), components=3)
    names = model_feature_names(model, card, (-1, 0), 3)
    assert features.shape == (len(names), *image.shape[1:]) and features.dtype == np.float32
    assert names[0] == "p(blob)" and names[-1] == "layer 0 pc 3"
    probabilities = run_model(model, card, image, VOXEL, views=1)
    np.testing.assert_allclose(features[0], probabilities[0], atol=1e-5)


def test_features_come_back_on_the_input_grid(base, image):
    _, (model, card) = base
    coarse = model_features(model, card, image, (2.0, 1.0, 1.0))  # resampled to the model's voxel size and back
    assert coarse.shape[1:] == image.shape[1:]
    assert np.isfinite(coarse).all()


def test_voxel_features_stack_the_bank_and_the_model(base, image):
    path, model = base
    bank = compute_features(image, VOXEL, FeatureSpec(micrometre=True))
    both = compute_features(image, VOXEL, FeatureSpec(base=str(path), components=2, micrometre=True), model)
    assert both.array.shape[:3] == image.shape[1:] and both.array.shape[-1] == len(both.names)
    assert both.names[: len(bank.names)] == bank.names and "p(blob)" in both.names
    np.testing.assert_array_equal(both.array[..., : len(bank.names)], bank.array)
    assert both.spec.sigmas_um == bank.spec.sigmas_um and len(bank.spec.sigmas_um) == 5  # recorded, not implied
    assert both.slab(slice(3, 5)).shape == (2 * 40 * 48, len(both.names))
