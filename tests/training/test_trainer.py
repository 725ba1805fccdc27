import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from napari_bright4b.models.card import ModelCard
from napari_bright4b.models.checkpoint import build_model, load_checkpoint
from napari_bright4b.models.config import HeadConfig
from napari_bright4b.models.presets import PRESETS
from napari_bright4b.training.losses import deblur_loss, root_l1
from napari_bright4b.training.patches import Example, PatchSampler
from napari_bright4b.training.state import KEY, state_path
from napari_bright4b.training.trainer import ROOT_WEIGHT, TrainSettings, task_loss, train

CARD = ModelCard(
    name="tiny",
    config=PRESETS["nano"].config,
    head=HeadConfig("segment", ("blob",), "sigmoid"),
    voxel_size=(0.5, 0.25, 0.25),
    tile=(4, 64, 64),
)


def blobs(seed: int) -> Example:
    rng = np.random.default_rng(seed)
    target = np.zeros((1, 6, 80, 80), np.uint8)
    for _ in range(4):
        z, y, x = rng.integers(0, 6), rng.integers(8, 72), rng.integers(8, 72)
        target[0, max(0, z - 1) : z + 2, y - 6 : y + 6, x - 6 : x + 6] = 1
    image = (target + rng.normal(0, 0.3, target.shape)).astype(np.float32)
    return Example(image, target)


def run(tmp_path, steps, name, resume=False, optimizer="adamw"):
    """A 4-step run of ``optimizer``, or with ``steps < 4`` one stopped after its first step."""
    torch.manual_seed(0)
    model = load_checkpoint(tmp_path / name)[0] if resume else build_model(CARD)
    sampler = PatchSampler([blobs(0), blobs(1)], (4, 64, 64), np.random.default_rng(0))
    settings = TrainSettings(steps=4, batch_size=1, warmup=1, checkpoint_every=2, seed=0, optimizer=optimizer)
    if steps < 4:
        settings = replace(settings, time_budget_s=0.0)
    return train(model, CARD, sampler, settings, tmp_path / name, resume=resume)


RECORDED_SECONDS = 1000.0  # written into the training state by hand; no run takes that long here


def pretend_the_first_run_took(path, seconds):
    with safe_open(str(path), framework="pt") as f:
        meta = json.loads(f.metadata()[KEY])
        tensors = {name: f.get_tensor(name) for name in f.keys()}
    save_file(tensors, str(path), metadata={KEY: json.dumps(meta | {"seconds": seconds})})


def test_training_is_deterministic_resumable_and_checkpointed(tmp_path):
    full = run(tmp_path, 4, "full.safetensors")
    again = run(tmp_path, 4, "again.safetensors")
    assert full.steps == 4 and full.losses == again.losses
    first = load_checkpoint(tmp_path / "full.safetensors")
    second = load_checkpoint(tmp_path / "again.safetensors")
    for a, b in zip(first[0].state_dict().values(), second[0].state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    card = first[1]
    assert card.provenance["steps"] == 4 and card.provenance["final_loss"] == full.losses[-1][1]
    assert state_path(tmp_path / "full.safetensors").is_file()
    assert (tmp_path / "full.loss.csv").read_text().splitlines()[0] == "step,loss"

    # a time budget of zero stops after one step; resuming finishes the same schedule
    stopped = run(tmp_path, 1, "split.safetensors")
    assert stopped.steps == 1
    pretend_the_first_run_took(state_path(tmp_path / "split.safetensors"), RECORDED_SECONDS)
    resumed = run(tmp_path, 4, "split.safetensors", resume=True)
    assert resumed.steps == 4 and resumed.losses[0] == full.losses[0]
    # bookkeeping, not timing: the first run's recorded seconds are carried into the total
    assert resumed.seconds > RECORDED_SECONDS
    assert load_checkpoint(tmp_path / "split.safetensors")[1].provenance["train_seconds"] > RECORDED_SECONDS
    for a, b in zip(
        load_checkpoint(tmp_path / "split.safetensors")[0].state_dict().values(), first[0].state_dict().values()
    ):
        # the same schedule up to float32 rounding (differences of 1.5e-6 seen on some CPUs)
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_unit_norm_weights_stay_on_the_sphere_after_training(tmp_path):
    result = run(tmp_path, 4, "m.safetensors")
    model = load_checkpoint(result.path)[0]
    from napari_bright4b.nn.hypersphere import _UNIT_NORM_DIMS

    checked = 0
    for module in model.modules():
        for name, dim in module.__dict__.get(_UNIT_NORM_DIMS, {}).items():
            norms = getattr(module, name).norm(dim=dim)
            torch.testing.assert_close(norms, torch.ones_like(norms), atol=1e-5, rtol=0)
            checked += 1
    assert checked > 0


def test_sampler_centres_half_the_patches_on_foreground():
    sampler = PatchSampler([blobs(0)], (4, 32, 32), np.random.default_rng(0), augment=False, foreground_share=1.0)
    assert all(sampler.sample()[1].any() for _ in range(20))
    with pytest.raises(ValueError, match="same grid"):
        Example(np.zeros((1, 4, 8, 8), np.float32), np.zeros((1, 4, 8, 9), np.uint8))


def test_a_model_refining_richardson_lucy_adds_the_square_root_term_to_its_loss():
    blind = replace(CARD, head=HeadConfig("deblur", ("intensity",)))
    refining = replace(blind, deconvolution={"iterations": 20, "tv": 0.002})
    sharp = torch.zeros(1, 1, 8, 16, 16)
    sharp[..., 4, 8, 8] = 1.0
    hazy = sharp + 0.01
    root = ROOT_WEIGHT * root_l1(hazy, sharp)
    assert task_loss(blind)(hazy, hazy, sharp) == pytest.approx(float(deblur_loss(hazy, sharp)), rel=1e-6)
    assert task_loss(refining)(hazy, hazy, sharp) == pytest.approx(float(deblur_loss(hazy, sharp) + root), rel=1e-5)
