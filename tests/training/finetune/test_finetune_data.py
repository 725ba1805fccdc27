"""Painted labels as training data: classes, the loss on painted voxels only, held-out strokes,
the sampler's options, the stroke generator and the uncertainty map."""

import numpy as np
import pytest
import torch

from napari_bright4b.analysis.uncertainty import normalized_entropy
from napari_bright4b.errors import BadInputError
from napari_bright4b.inference.resample import resize_nearest
from napari_bright4b.training.finetune.painted import check_labels, painted_classes, split_strokes
from napari_bright4b.training.finetune.strokes import Painter, paint_strokes
from napari_bright4b.training.losses import painted_loss
from napari_bright4b.training.patches import Example, PatchSampler


def test_the_loss_ignores_unpainted_voxels():
    torch.manual_seed(0)
    painted = torch.randint(0, 4, (2, 1, 4, 8, 8))
    painted[:, :, :2] = 0  # half the volume unpainted
    logits = torch.randn(2, 3, 4, 8, 8, requires_grad=True)
    changed = logits.detach().clone()
    changed[:, :, :2] = torch.randn(2, 3, 2, 8, 8) * 10  # anything at all where nothing is painted
    changed.requires_grad_(True)
    a, b = painted_loss(logits, painted), painted_loss(changed, painted)
    a.backward()
    b.backward()
    assert a.item() == pytest.approx(b.item(), abs=1e-6)
    unpainted = (painted == 0).expand_as(logits)
    assert logits.grad[unpainted].abs().max() == 0 and changed.grad[unpainted].abs().max() == 0
    torch.testing.assert_close(logits.grad[~unpainted], changed.grad[~unpainted])
    assert logits.grad[~unpainted].abs().sum() > 0


def test_painted_classes_are_the_background_then_each_painted_value():
    labels = np.zeros((2, 6, 6), np.uint8)
    labels[0, :2] = 1
    labels[1, :1] = 4
    labels[1, 5] = 2
    classes = painted_classes(labels, {4: "nucleoli"}, base_classes=("nuclei", "nucleoli", "mitochondria"))
    assert classes.values == (1, 2, 4) and classes.names == ("background", "nuclei", "nucleoli")
    assert classes.voxels == (12, 6, 6)
    codes = classes.codes(labels)
    assert codes[0, 0, 0] == 1 and codes[1, 0, 0] == 3 and codes[1, 5, 0] == 2 and codes[0, 3, 3] == 0
    assert np.array_equal(classes.to_painted(np.array([0, 1, 2])), [0, 2, 4])  # background shows as 0
    assert painted_classes(labels * (labels != 1), base_classes=()).names == ("background", "class 2", "class 4")


@pytest.mark.parametrize(
    "painted, message",
    [((), "nothing is painted"), ((1,), "only one class is painted \\(background"), ((3,), "only one class .*label 3")],
)
def test_fewer_than_two_painted_classes_is_a_clear_error(painted, message):
    labels = np.zeros((2, 6, 6), np.uint8)
    for i, value in enumerate(painted):
        labels[i] = value
    with pytest.raises(BadInputError, match=message):
        painted_classes(labels)


def test_bad_labels_are_refused():
    with pytest.raises(BadInputError, match="differ in shape"):
        check_labels((4, 8, 8), (4, 8, 9))
    with pytest.raises(BadInputError, match="non-negative integers"):
        painted_classes(np.ones((2, 2, 2), np.float32))
    with pytest.raises(BadInputError, match="own name"):
        painted_classes(np.array([[[1, 2, 3]]]), {2: "a", 3: "a"})


def test_a_share_of_each_class_strokes_is_held_out_never_all():
    codes = np.zeros((9, 20, 20), np.uint8)
    for z in range(0, 9, 2):
        codes[z, 2:4, 2:10] = 1  # five background strokes
        codes[z, 10:12, 2:10] = 2  # five class strokes
    codes[3, 15:18, 15:18] = 3  # a class painted once
    train, held_out = split_strokes(codes, 0.2, np.random.default_rng(0))
    assert np.array_equal(np.where(held_out > 0, held_out, train), codes) and not (train & held_out).any()
    for code in (1, 2):
        held_slices = {z for z in range(9) if (held_out[z] == code).any()}
        assert len(held_slices) == 1  # 20% of five strokes
    assert not (held_out == 3).any()
    assert not split_strokes(codes, 0.0, np.random.default_rng(0))[1].any()


def test_nearest_resize_keeps_label_values():
    labels = np.random.default_rng(0).integers(0, 5, (1, 6, 10, 10)).astype(np.uint8)
    small = resize_nearest(labels, (3, 5, 5))
    assert small.shape == (1, 3, 5, 5) and set(np.unique(small)) <= set(np.unique(labels))
    assert np.array_equal(resize_nearest(labels, (6, 10, 10)), labels)
    assert np.array_equal(resize_nearest(small, (6, 10, 10))[:, ::2, ::2, ::2], small)


def test_sampler_centres_on_each_painted_value_keeps_z_and_zooms():
    codes = np.zeros((1, 16, 64, 64), np.uint8)
    codes[0, 8, 5, 5] = 1
    codes[0, 8, 50:60, 50:60] = 2  # a hundred times more voxels of class 2
    image = np.broadcast_to(np.arange(16, dtype=np.float32)[:, None, None], (1, 16, 64, 64)).copy()
    sampler = PatchSampler(
        [Example(image, codes)],
        (8, 16, 16),
        np.random.default_rng(0),
        foreground_share=1.0,
        centre_on="values",
        flip_z=False,
        scale=0.2,
    )
    patches = [sampler.sample() for _ in range(60)]
    assert all(t.shape == (1, 8, 16, 16) and i.shape == (1, 8, 16, 16) for i, t in patches)
    seen = [set(np.unique(t)) - {0} for _, t in patches]
    assert sum(1 in s for s in seen) > 15  # the single background voxel is centred on as often as class 2
    assert all(s <= {1, 2} for s in seen)
    for image_patch, _ in patches:  # z is never flipped: the ramp still rises
        profile = image_patch[0].mean(axis=(1, 2))
        assert np.all(np.diff(profile) > -0.2)


def test_strokes_lie_inside_their_class_on_three_slices():
    truth = np.zeros((12, 64, 64), np.uint8)
    yy, xx = np.mgrid[:64, :64]
    for z in range(2, 10):
        truth[z][(yy - 20) ** 2 + (xx - 20) ** 2 < 100] = 1
        truth[z][(yy - 45) ** 2 + (xx - 45) ** 2 < 80] = 1
        truth[z][(yy - 20) ** 2 + (xx - 20) ** 2 < 9] = 2  # a small one inside the first
    labels = paint_strokes(truth, np.random.default_rng(0), Painter())
    for k in (0, 1, 2):
        strokes = labels == k + 1
        assert strokes.any() and np.all(truth[strokes] == k)
        assert len(np.unique(np.nonzero(strokes)[0])) <= 3
    assert (labels > 0).mean() < 0.05  # a few strokes, not a dense annotation


def test_normalized_entropy_is_zero_when_sure_and_one_when_undecided():
    p = np.zeros((3, 2, 2, 2), np.float32)
    p[0] = 1
    p[:, 1, 1, 1] = 1 / 3
    entropy = normalized_entropy(p)
    assert entropy.shape == (2, 2, 2) and entropy.dtype == np.float32
    assert entropy[0, 0, 0] == pytest.approx(0.0, abs=1e-6) and entropy[1, 1, 1] == pytest.approx(1.0, abs=1e-5)
    two = normalized_entropy(np.array([[0.9], [0.1]], np.float32))
    assert two[0] == pytest.approx(-(0.9 * np.log(0.9) + 0.1 * np.log(0.1)) / np.log(2), rel=1e-5)
