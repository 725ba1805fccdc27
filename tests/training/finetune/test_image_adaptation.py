"""Test-time adaptation: the network learns the user's image by masked reconstruction before
the strokes, in memory only; the base file is never written."""

import hashlib

import numpy as np
import pytest
import torch

from napari_bright4b.errors import BadInputError
from napari_bright4b.models.checkpoint import load_checkpoint
from napari_bright4b.training.finetune import FinetuneSettings, finetune
from napari_bright4b.training.finetune.image_adaptation import Reconstructor, adapt_to_image
from napari_bright4b.training.trainer import TrainSettings
from tests.training.finetune.test_finetune import VOXEL, save_toy_base, toy_volume


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return save_toy_base(tmp_path_factory.mktemp("base"))


def test_the_reconstruction_loss_falls_and_only_the_network_changes(base):
    model, card = load_checkpoint(base)
    image, _, _ = toy_volume()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    settings = TrainSettings(steps=40, batch_size=2, learning_rate=2e-3, warmup=5, checkpoint_every=10**9)
    result = adapt_to_image(model, card, image, settings, np.random.default_rng(0))
    losses = [loss for _, loss in result.losses]
    assert result.steps == 40 and np.mean(losses[-10:]) < 0.8 * np.mean(losses[:10])
    after = model.state_dict()
    assert all(torch.equal(after[k], v) for k, v in before.items() if k.startswith("head."))  # unused, unchanged
    assert any(not torch.equal(after[k], v) for k, v in before.items() if k.startswith(("blocks.", "decoder.")))
    assert not model.training


def test_the_reconstructor_maps_back_to_the_input_channels(base):
    model, _ = load_checkpoint(base)
    x = torch.randn(1, 1, 16, 32, 32)
    assert Reconstructor(model)(x).shape == x.shape


@pytest.mark.parametrize(
    "teacher, objectives", [(False, ["masked_reconstruction"]), (True, ["masked_reconstruction", "ema_teacher"])]
)
def test_a_fine_tune_that_adapts_first_records_it_and_leaves_the_base_untouched(base, tmp_path, teacher, objectives):
    image, _, labels = toy_volume()
    digest = hashlib.sha256(base.read_bytes()).hexdigest()
    settings = FinetuneSettings(mode="adapter", steps=2, time_budget_s=None, adapt_s=0.5, adapt_ema_teacher=teacher)
    result = finetune(image, VOXEL, labels, str(base), settings=settings, out=tmp_path / "adapted.safetensors")
    record = result.card.provenance["image_adaptation"]
    assert record["objectives"] == objectives and record["steps"] >= 1
    assert result.card.provenance["settings"]["adapt_s"] == 0.5 and result.steps == 2
    assert hashlib.sha256(base.read_bytes()).hexdigest() == digest
    assert load_checkpoint(result.path)[1].provenance["image_adaptation"] == record


@pytest.mark.parametrize(
    "options, message",
    [
        ({"adapt_s": -1.0}, "adaptation time"),
        ({"adapt_s": float("nan")}, "adaptation time"),
        ({"adapt_learning_rate": 0.0}, "adapt learning rate must be positive"),
    ],
)
def test_bad_adaptation_settings_are_refused_by_name(options, message):
    with pytest.raises(BadInputError, match=message):
        FinetuneSettings(**options)
