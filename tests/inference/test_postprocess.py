import numpy as np
import pytest

from napari_bright4b.errors import BadInputError
from napari_bright4b.inference.postprocess import class_thresholds, instances, masks, parse_threshold


def ball(shape, centre, radius_um, voxel_size):
    grids = np.meshgrid(*[np.arange(n) * s for n, s in zip(shape, voxel_size)], indexing="ij")
    return sum((g - c) ** 2 for g, c in zip(grids, centre)) <= radius_um**2


def test_thresholds_by_number_and_by_otsu():
    probs = np.zeros((2, 4, 20, 20), np.float32)
    probs[0, :, :10] = 0.9
    probs[0, :, 10:] = 0.2
    probs[1, :, :, :5] = 0.55
    fixed, cuts = masks(probs, 0.6)
    assert cuts == [0.6, 0.6] and fixed[0, :, :10].all() and not fixed[0, :, 10:].any() and not fixed[1].any()
    otsu, cuts = masks(probs, "otsu")
    assert 0.2 <= cuts[0] < 0.9 and otsu[0, :, :10].all() and not otsu[0, :, 10:].any()
    assert otsu[1, :, :, :5].all() and not otsu[1, :, :, 5:].any()
    assert masks(np.zeros((1, 3, 4, 4), np.float32), "otsu")[0].sum() == 0  # flat map: nothing found


def test_per_class_thresholds_take_the_model_cuts_and_otsu_elsewhere():
    per_class = class_thresholds("model", ["nuclei", "nucleoli"], {"nucleoli": 0.3})
    assert per_class == ["otsu", 0.3]
    assert class_thresholds(0.4, ["a", "b"], {"a": 0.9}) == [0.4, 0.4]
    probs = np.zeros((2, 4, 20, 20), np.float32)
    probs[0, :, :10], probs[1, :, :, :5] = 0.9, 0.35
    found, cuts = masks(probs, per_class)
    assert cuts[1] == 0.3 and found[1, :, :, :5].all() and not found[1, :, :, 5:].any()
    assert 0 < cuts[0] < 0.9 and found[0, :, :10].all()
    with pytest.raises(ValueError, match="1 thresholds for 2 classes"):
        masks(probs, [0.5])


def test_exclusive_classes_become_one_label_map():
    probs = np.zeros((3, 2, 4, 4), np.float32)
    probs[0] = 0.5
    probs[2, :, :2] = 0.9
    labels, cuts = masks(probs, "otsu", exclusive=True)
    assert labels.shape == (1, 2, 4, 4) and cuts == []
    assert (labels[0, :, :2] == 2).all() and (labels[0, :, 2:] == 0).all()


@pytest.mark.parametrize("bad", ["0", "1.5", "high", "nan", "-0.1"])
def test_bad_thresholds_are_refused(bad):
    with pytest.raises(BadInputError, match="'model', 'otsu' or a number between 0 and 1"):
        parse_threshold(bad)


def test_touching_nuclei_are_split_and_separate_ones_counted_with_anisotropic_voxels():
    voxel = (0.5, 0.2, 0.2)
    shape = (24, 80, 110)
    pair = ball(shape, (6, 8, 6), 3.0, voxel) | ball(shape, (6, 8, 11.2), 3.0, voxel)  # overlapping spheres
    lone = ball(shape, (6, 8, 18.5), 2.0, voxel)
    mask = pair | lone
    components = instances(mask)
    assert components.max() == 2 and components.dtype == np.uint32
    split = instances(mask, voxel, split_touching=True, min_radius_um=2.0)
    assert len(np.unique(split[pair])) == 2 and len(np.unique(split[lone])) == 1
    assert split.max() == 3 and ((split > 0) == mask).all()


class RecordingArray:
    """A sliceable array that records how many voxels each read returns."""

    def __init__(self, data):
        self.data, self.shape, self.reads = data, data.shape, []

    def __getitem__(self, index):
        out = self.data[index]
        self.reads.append(out.size)
        return out


@pytest.mark.parametrize("threshold, exclusive", [("otsu", False), (0.4, False), ("otsu", True)])
def test_masks_read_probabilities_a_slab_at_a_time_and_match_reading_them_whole(threshold, exclusive, monkeypatch):
    from napari_bright4b.inference import normalize
    from napari_bright4b.inference.postprocess import SLAB

    monkeypatch.setattr(normalize, "MAX_SAMPLES", 1000)  # Otsu's subsample, as of a large volume
    rng = np.random.default_rng(0)
    probs = rng.random((2, 3 * SLAB + 5, 24, 24)).astype(np.float32)
    probs[0, :, :12] += 0.5
    stored = RecordingArray(probs)
    lazily, cuts = masks(stored, threshold, exclusive)
    whole, whole_cuts = masks(probs, threshold, exclusive)
    np.testing.assert_array_equal(lazily, whole)
    assert cuts == whole_cuts
    per_class = probs[0].size
    assert max(stored.reads) <= (2 if exclusive else 1) * SLAB * 24 * 24 < per_class
