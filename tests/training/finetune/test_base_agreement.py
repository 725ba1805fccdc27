"""Instant mode keeps the base's answer for a class exactly when the strokes, and the
classifier they train, agree with the base's mask of it, and a part stays inside its whole
where the base's masks overlap."""

import numpy as np
import pytest

from napari_bright4b.features.voxel_features import FeatureSpec, VoxelFeatures
from napari_bright4b.training.finetune.base_agreement import Agreement, agreements, keep_base
from napari_bright4b.training.finetune.instant import InstantModel, InstantSettings
from napari_bright4b.training.finetune.painted import painted_classes

SHAPE = (4, 20, 20)
CUTS = {"nuclei": 0.45, "nucleoli": 0.5, "mitochondria": 0.8}


@pytest.fixture
def scene():
    """A nucleus with a nucleolus and a rod of mitochondrion; the base gets nuclei and
    nucleoli right and misses the rod; one intensity feature separates everything."""
    truth = np.zeros(SHAPE, np.uint8)
    truth[:, 2:12, 2:12] = 1
    truth[:, 5:8, 5:8] = 2
    truth[:, 16, 2:18] = 3
    p = np.zeros((*SHAPE, 3), np.float32)
    p[..., 0] = np.isin(truth, (1, 2)) * 0.9
    p[..., 1] = (truth == 2) * 0.95
    p[..., 2] = 0.1  # the base finds no mitochondria
    intensity = truth.astype(np.float32)[..., None]
    array = np.concatenate([intensity, p], axis=-1)
    names = ("intensity", "p(nuclei)", "p(nucleoli)", "p(mitochondria)")
    features = VoxelFeatures(array, names, (1.0, 1.0, 1.0), FeatureSpec(base="toy"), dict(CUTS))
    labels = np.zeros(SHAPE, np.uint8)
    labels[1, 14, 2:18] = 1  # background
    labels[1, 3:5, 3:11] = 2  # nuclei
    labels[1, 6, 6] = 3  # nucleoli
    labels[1, 16, 4:16] = 4  # mitochondria
    return features, truth, labels


def by_intensity(rows: np.ndarray) -> np.ndarray:
    """The scene's perfect classifier: class index = the intensity feature."""
    return rows[:, 0].astype(np.int64)


def judged(features, labels) -> dict:
    classes = painted_classes(labels, {2: "nuclei", 3: "nucleoli", 4: "mitochondria"})
    return {a.name: a for a in agreements(features, classes.codes(labels), classes, by_intensity)}


def test_the_strokes_keep_the_classes_the_base_gets_right(scene):
    features, _, labels = scene
    found = judged(features, labels)
    assert found["nuclei"].covered == 1.0 and found["nuclei"].background == 0.0 and found["nuclei"].kept
    assert found["nuclei"].called_background == 0.0
    assert found["nucleoli"].kept and found["nucleoli"].within == "nuclei"
    assert found["mitochondria"].covered == 0.0 and not found["mitochondria"].kept
    assert found["mitochondria"].called_background == 0.0  # the base's mask of it is empty


def test_only_painted_classes_the_base_segments_are_judged(scene):
    features, _, labels = scene
    no_nuclei = np.where(labels == 2, 0, labels).astype(labels.dtype)
    assert judged(features, no_nuclei).keys() == {"nucleoli", "mitochondria"}
    only_other = np.where(labels > 1, 0, labels).astype(labels.dtype)
    only_other[1, 18, 2:6] = 5  # a class the base does not segment
    classes = painted_classes(only_other, {5: "cilia"})
    assert agreements(features, classes.codes(only_other), classes, by_intensity) == ()


def test_a_base_that_covers_painted_background_is_not_kept(scene):
    features, _, labels = scene
    features.array[..., 1] = 0.9  # the base calls everything a nucleus
    found = judged(features, labels)
    assert found["nuclei"].background == 1.0 and not found["nuclei"].kept


def test_a_base_whose_mask_the_strokes_classifier_calls_background_is_not_kept(scene):
    features, _, labels = scene
    features.array[:, 0:2, :, 1] = 0.9  # two false rows of nucleus, far from any painted voxel
    found = judged(features, labels)["nuclei"]
    assert found.covered == 1.0 and found.background == 0.0  # the strokes alone see nothing wrong
    assert found.called_background == pytest.approx(40 / 140) and not found.kept  # 2 x 20 of 140 per slice
    assert "29% of it background" in found.describe()


def test_kept_classes_take_the_bases_extent_and_the_others_stay(scene):
    features, truth, _ = scene
    classes = painted_classes(np.arange(5), {2: "nuclei", 3: "nucleoli", 4: "mitochondria"})
    kept = (Agreement("nuclei", 0.45, 1.0, 0.0), Agreement("nucleoli", 0.5, 1.0, 0.0, within="nuclei"))
    predicted = truth.astype(np.int64)
    predicted[:, 12:15, :] = 1  # instant mode overgrows the nuclei
    predicted[:, 0, 0] = 3  # and calls a corner mitochondria
    combined = keep_base(predicted, features, kept, classes, slice(None))
    expected = truth.astype(np.int64)
    expected[:, 0, 0] = 3  # mitochondria are not kept: the strokes decide them
    np.testing.assert_array_equal(combined, expected)  # nucleoli inside nuclei, no overgrowth
    np.testing.assert_array_equal(keep_base(predicted, features, (), classes, slice(None)), predicted)


def test_the_strokes_may_grow_a_kept_part_inside_the_bases_whole_but_not_outside_it(scene):
    features, truth, _ = scene
    classes = painted_classes(np.arange(5), {2: "nuclei", 3: "nucleoli", 4: "mitochondria"})
    kept = (Agreement("nuclei", 0.45, 1.0, 0.0), Agreement("nucleoli", 0.5, 1.0, 0.0, within="nuclei"))
    predicted = truth.astype(np.int64)
    predicted[:, 8, 5:8] = 2  # one row more of nucleolus, inside the base's nucleus
    predicted[:, 14, 5:8] = 2  # and a nucleolus in the background
    combined = keep_base(predicted, features, kept, classes, slice(None))
    expected = truth.astype(np.int64)
    expected[:, 8, 5:8] = 2
    np.testing.assert_array_equal(combined, expected)


def test_agreements_are_saved_with_the_model_and_can_be_switched_off(scene, tmp_path):
    features, _, labels = scene
    classes = painted_classes(labels, {2: "nuclei", 3: "nucleoli", 4: "mitochondria"})
    codes = classes.codes(labels)
    model = InstantModel.fit(features, codes, classes, InstantSettings(trees=4, threads=1))
    assert [a.name for a in model.kept] == ["nuclei", "nucleoli"]
    loaded = InstantModel.load(model.save(tmp_path / "m.safetensors"))
    assert loaded.agreements == model.agreements
    labels_out, _ = loaded.predict(features)
    assert set(np.unique(labels_out[features.array[..., 1] >= 0.45])) <= {2, 3}
    off = InstantModel.fit(features, codes, classes, InstantSettings(trees=4, threads=1, keep_base=False))
    assert off.agreements == () and off.kept == ()
