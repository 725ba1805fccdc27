import dataclasses

import numpy as np
import pytest
import torch

from napari_bright4b.inference.predict import run_model
from napari_bright4b.inference.views import average_views
from napari_bright4b.models.card import ModelCard
from napari_bright4b.models.checkpoint import build_model
from napari_bright4b.models.config import HeadConfig
from napari_bright4b.models.presets import PRESETS


def _plus_x(batch: torch.Tensor) -> torch.Tensor:
    """A model that is not mirror-symmetric: it adds each voxel's x index."""
    return batch + torch.arange(batch.shape[-1], dtype=batch.dtype)


def test_one_view_is_the_model_itself():
    assert average_views(_plus_x, 1) is _plus_x


@pytest.mark.parametrize("views, shape", [(2, (3, 5, 7)), (4, (3, 5, 7)), (8, (3, 6, 6))])
def test_averaging_over_mirrors_cancels_what_is_not_symmetric(views, shape):
    batch = torch.randn(2, 1, *shape)
    # x -> W-1-x under the x mirror (and the half turn); the quarter turns swap in y, whose
    # mean over the group is the same: every view's shift averages to (W - 1) / 2
    expected = batch + (shape[-1] - 1) / 2
    torch.testing.assert_close(average_views(_plus_x, views)(batch), expected)


def test_an_equivariant_model_is_unchanged_by_every_view_count():
    def square(batch):
        return batch**2

    batch = torch.randn(1, 2, 4, 6, 6)
    for views in (2, 4, 8):
        torch.testing.assert_close(average_views(square, views)(batch), square(batch))


def test_view_counts_outside_the_group_are_refused():
    with pytest.raises(ValueError, match="views must be one of"):
        average_views(_plus_x, 3)


def test_run_model_uses_the_cards_views_unless_told_otherwise():
    card = ModelCard(
        name="t", config=PRESETS["nano"].config, head=HeadConfig(class_names=("a",)), tile=(8, 64, 64), views=4
    )
    model = build_model(card).eval()
    volume = np.random.default_rng(0).normal(size=(1, 8, 64, 64)).astype(np.float32)
    default = run_model(model, card, volume)
    np.testing.assert_allclose(default, run_model(model, card, volume, views=4), atol=1e-6)
    plain = run_model(model, dataclasses.replace(card, views=1), volume)
    np.testing.assert_allclose(plain, run_model(model, card, volume, views=1), atol=1e-6)
    assert np.abs(default - plain).max() > 1e-4  # a random model is not mirror-symmetric
