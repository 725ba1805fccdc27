import numpy as np
import pytest
import torch

from napari_bright4b.training.finetune.priors import image_prior, prior_shift, stroke_prior


def test_stroke_prior_is_the_share_of_painted_voxels_per_class():
    codes = np.zeros((2, 4, 4), np.uint8)
    codes[0, 0, :3] = 1  # 3 background voxels
    codes[1, :, 0] = 2  # 4 of class 1, nothing of class 2
    assert stroke_prior(codes, 3) == pytest.approx([3 / 7, 4 / 7, 0])


def test_image_prior_is_the_mean_softmax_over_random_crops():
    model = torch.nn.Conv3d(1, 3, 1)
    with torch.no_grad():
        model.weight.zero_()
        model.bias.copy_(torch.log(torch.tensor([1.0, 2.0, 4.0])))  # softmax (1, 2, 4) / 7 everywhere
    image = np.random.default_rng(0).normal(size=(1, 6, 20, 20)).astype(np.float32)
    prior = image_prior(model, image, (8, 32, 8), np.random.default_rng(1))  # a crop bigger than the image is clipped
    assert prior == pytest.approx([1 / 7, 2 / 7, 4 / 7], abs=1e-6)
    assert model.training  # left as found


def test_the_shift_vanishes_when_strokes_match_the_image_and_skips_unknown_classes():
    image = np.array([0.9, 0.07, 0.03])
    assert prior_shift(image, image, [True] * 3) == pytest.approx([0, 0, 0], abs=1e-6)
    strokes = np.array([0.6, 0.3, 0.1])
    shift = prior_shift(strokes, image, [True, True, False])
    assert shift[0] < 0 < shift[1] and shift[2] == 0  # over-painted classes are held back in the loss
    assert shift[1] == pytest.approx(np.log(0.3 / 0.07))
    assert np.isfinite(prior_shift(np.array([0.5, 0.5, 0.0]), np.array([1.0, 0.0, 0.0]), [True] * 3)).all()
