"""Instant mode: a classifier on voxel features learns painted classes in seconds, and a saved
one loads by refitting on its stored rows, never by unpickling."""

import json
import struct

import numpy as np
import pytest

from napari_bright4b.errors import BadInputError, CheckpointError
from napari_bright4b.features.voxel_features import VoxelFeatures, compute_features
from napari_bright4b.training.finetune.instant import InstantModel, InstantSettings, instant_segment, training_rows
from napari_bright4b.training.finetune.painted import painted_classes
from napari_bright4b.training.finetune.strokes import paint_strokes
from tests.training.finetune.test_finetune import save_toy_base

VOXEL = (1.0, 0.4, 0.4)
SHAPE = (12, 48, 48)


@pytest.fixture(scope="module")
def toy():
    """Bright balls (class 1) and dark rods (class 2) in noise; strokes on 3 slices."""
    rng = np.random.default_rng(0)
    z, y, x = np.meshgrid(*[np.arange(n) * v for n, v in zip(SHAPE, VOXEL)], indexing="ij")
    truth = np.zeros(SHAPE, np.uint8)
    for cz, cy, cx in ((5, 5, 5), (6, 12, 14), (5, 14, 5)):
        truth[(z - cz) ** 2 + (y - cy) ** 2 + (x - cx) ** 2 <= 9] = 1
    truth[(np.abs(y - 9) < 1.0) & (x > 9) & (np.abs(z - 6) < 2)] = 2
    image = 100 + 60 * (truth == 1) - 40 * (truth == 2) + rng.normal(0, 12, SHAPE)
    labels = paint_strokes(truth, np.random.default_rng(1))
    return image[None].astype(np.float32), truth, labels


def dice(found, truth):
    return 2 * (found & truth).sum() / (found.sum() + truth.sum())


@pytest.mark.parametrize("micrometre, balls", [(False, 0.85), (True, 0.95)])
def test_learns_a_separable_toy_from_strokes(toy, micrometre, balls):
    image, truth, labels = toy
    painted = (labels > 0).sum()
    assert painted < 0.1 * labels.size  # a few strokes, not the answer
    result = instant_segment(image, VOXEL, labels, None, settings=InstantSettings(threads=1), micrometre=micrometre)
    assert result.labels.shape == SHAPE and result.uncertainty.shape == SHAPE
    # z-steps 2.5 times the lateral pixels: smoothing in micrometres finds the balls' z-ends
    assert dice(result.labels == 2, truth == 1) > balls
    assert dice(result.labels == 3, truth == 2) > 0.6
    assert 0 <= result.uncertainty.min() and result.uncertainty.max() <= 1
    assert result.uncertainty[truth == 0].mean() < 0.5


@pytest.mark.parametrize("classifier", ["forest", "logistic"])
def test_saved_models_load_without_unpickling_and_predict_the_same(toy, tmp_path, classifier):
    image, _, labels = toy
    features = compute_features(image, VOXEL)
    classes = painted_classes(labels, {2: "ball", 3: "rod"})
    model = InstantModel.fit(features, classes.codes(labels), classes, InstantSettings(classifier, threads=1))
    path = model.save(tmp_path / "instant.safetensors")
    raw = path.read_bytes()
    header = json.loads(raw[8 : 8 + struct.unpack("<Q", raw[:8])[0]])  # a plain safetensors header
    assert set(header) == {"__metadata__", "samples", "targets"}
    loaded = InstantModel.load(path)
    assert loaded.classes == classes and loaded.spec == features.spec and loaded.settings == model.settings
    for a, b in zip(model.predict(features, slice(2, 7)), loaded.predict(features, slice(2, 7))):
        np.testing.assert_array_equal(a, b)


def test_bad_instant_files_are_refused_by_name(toy, tmp_path):
    image, _, labels = toy
    classes = painted_classes(labels)
    features = compute_features(image, VOXEL)
    path = InstantModel.fit(features, classes.codes(labels), classes, InstantSettings(threads=1)).save(
        tmp_path / "a.safetensors"
    )
    from safetensors.numpy import load_file, save_file

    tensors = load_file(path)
    save_file(tensors, tmp_path / "bare.safetensors")
    with pytest.raises(CheckpointError, match="not an instant model"):
        InstantModel.load(tmp_path / "bare.safetensors")
    (tmp_path / "pickle.safetensors").write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(CheckpointError, match="cannot be read"):
        InstantModel.load(tmp_path / "pickle.safetensors")
    header = json.dumps({"format": 1, "classes": {"values": [1, 2]}})  # no names, no features
    save_file(tensors, tmp_path / "malformed.safetensors", metadata={"bright4b_instant": header})
    with pytest.raises(CheckpointError, match="malformed"):
        InstantModel.load(tmp_path / "malformed.safetensors")
    fewer = VoxelFeatures(features.array[..., :5], features.names[:5], VOXEL, features.spec)
    with pytest.raises(BadInputError, match="computed otherwise"):
        InstantModel.load(path).predict(fewer)


def test_a_single_slice_is_refused_by_name():
    with pytest.raises(BadInputError, match="at least 2 voxels"):
        compute_features(np.zeros((1, 1, 8, 8), np.float32), VOXEL)


def test_training_rows_cap_each_class():
    codes = np.zeros((4, 10, 10), np.uint8)
    codes[0] = 1
    codes[1, :2] = 2
    index, targets = training_rows(codes, 30, np.random.default_rng(0))
    assert np.all(np.diff(index) > 0)
    assert np.bincount(targets).tolist() == [30, 20]
    np.testing.assert_array_equal(codes.ravel()[index] - 1, targets)


def test_instant_segment_with_a_base_models_features(toy, tmp_path):
    image, truth, labels = toy
    base = save_toy_base(tmp_path, VOXEL)
    result = instant_segment(image, VOXEL, labels, str(base), settings=InstantSettings(threads=1))
    assert "p(blob)" in result.features.names and result.model.provenance["base_model"] == str(base)
    assert result.model.classes.names[1] == "blob"  # the base's class name for painted value 2
    assert dice(result.labels == 2, truth == 1) > 0.8


def test_pseudo_labels_fill_only_unpainted_voxels_with_sure_classes(toy, tmp_path):
    from napari_bright4b.training.finetune.painted import PaintedData, split_strokes
    from napari_bright4b.training.finetune.teacher import pseudo_codes, with_pseudo_labels

    image, truth, labels = toy
    classes = painted_classes(labels)
    pseudo = pseudo_codes(image, VOXEL, labels, classes, str(save_toy_base(tmp_path, VOXEL)))
    assert (pseudo > 0).mean() > 0.5  # most voxels get a sure class
    sure = pseudo > 0
    assert ((pseudo[sure] - 1) == truth[sure]).mean() > 0.9
    train, held_out = split_strokes(classes.codes(labels), 0.2, np.random.default_rng(0))
    data = with_pseudo_labels(PaintedData(image, train, held_out), pseudo)
    painted = train > 0
    np.testing.assert_array_equal(data.train[painted], train[painted])  # strokes win over pseudo-labels
    assert not data.train[held_out > 0].any()  # held-out strokes stay out of training
    assert (data.train > 0).sum() > painted.sum()
