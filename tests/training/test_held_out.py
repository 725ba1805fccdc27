"""The held-out masked-reconstruction curve: fixed patches, the pretraining loss, points over a
run and across a resume, and what pretraining on one volume does to it on another."""

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from napari_bright4b.cli import main
from napari_bright4b.data.io import write_image
from napari_bright4b.errors import BadInputError
from napari_bright4b.models.session import load_model
from napari_bright4b.training.pretrain.held_out import PATCHES, HeldOutCurve, read_curve
from napari_bright4b.training.pretrain.masking import masked_reconstruction_loss
from napari_bright4b.training.pretrain.run import pretrain
from napari_bright4b.training.trainer import TrainSettings

SETTINGS = TrainSettings(steps=3, warmup=1, batch_size=1, learning_rate=1e-3)
VOXEL = (0.5, 0.2, 0.2)


def _blobs(seed: int) -> np.ndarray:
    """Bright Gaussian blobs on a noisy background, ``(16, 72, 72)``."""
    rng = np.random.default_rng(seed)
    z, y, x = np.mgrid[:16, :72, :72]
    image = rng.normal(100, 5, z.shape)
    for cz, cy, cx in rng.uniform((0, 0, 0), (16, 72, 72), (12, 3)):
        image += 400 * np.exp(-((z - cz) ** 2 / 8 + (y - cy) ** 2 / 30 + (x - cx) ** 2 / 30))
    return image.astype(np.float32)


@pytest.fixture(scope="module")
def volumes(tmp_path_factory):
    folder = tmp_path_factory.mktemp("held-out")
    return [write_image(folder / f"blobs-{seed}.tif", _blobs(seed), VOXEL) for seed in range(2)]


@pytest.fixture(scope="module")
def pretrained(volumes, tmp_path_factory):
    out = tmp_path_factory.mktemp("pretrained") / "pre.safetensors"
    pretrain([volumes[0]], out, settings=SETTINGS)
    return load_model(out)


def test_the_curve_scores_fixed_patches_by_the_pretraining_loss_in_eval_mode(pretrained):
    model, card = pretrained
    model.train()
    image = np.random.default_rng(0).random((1, 16, 72, 72), dtype=np.float32)
    curve = HeldOutCurve(model, [image], card.tile, (card.config.patch, 0.6), seed=5, batch_size=3)
    first, again = curve.measure(0), curve.measure(1)
    assert first == again and curve.points == [[0, first], [1, first]]  # the same patches and masks each time
    assert model.training  # the model goes back to training
    assert curve.image.shape[0] == PATCHES and torch.all(curve.target[:, 1].flatten(1).mean(1) > 0)
    model.eval()
    with torch.no_grad():
        direct = masked_reconstruction_loss(model(curve.image).float(), curve.image, curve.target).item()
    assert first == pytest.approx(direct, rel=1e-4)


def test_a_run_records_points_every_interval_and_a_resumed_run_continues_them(volumes, tmp_path):
    out = tmp_path / "run.safetensors"
    result = pretrain([volumes[0]], out, settings=SETTINGS, held_out=[volumes[1]])
    assert [step for step, _ in result.held_out] == [0, 3]
    assert read_curve(out) == result.held_out
    assert (tmp_path / "run.held_out.csv").read_text().splitlines()[0] == "step,loss"
    resumed = pretrain([volumes[0]], out, settings=replace(SETTINGS, steps=5), held_out=[volumes[1]], resume=True)
    assert resumed.held_out[:2] == result.held_out and [step for step, _ in resumed.held_out] == [0, 3, 5]
    assert read_curve(tmp_path / "none.safetensors") == []


def test_pretraining_on_one_volume_lowers_the_loss_on_another_of_its_kind(volumes, tmp_path):
    settings = TrainSettings(steps=40, warmup=4, batch_size=2, learning_rate=2e-3)
    result = pretrain([volumes[0]], tmp_path / "pre.safetensors", settings=settings, held_out=[volumes[1]])
    losses = [loss for _, loss in result.held_out]
    assert [step for step, _ in result.held_out] == [0, 40]
    assert losses[-1] < 0.8 * losses[0]


def test_held_out_volumes_need_the_training_channels(volumes, tmp_path):
    two = write_image(tmp_path / "two.tif", np.stack([_blobs(0), _blobs(1)]), VOXEL)
    with pytest.raises(BadInputError, match="same number of channels"):
        pretrain([volumes[0]], tmp_path / "x.safetensors", settings=SETTINGS, held_out=[two])


def test_the_command_takes_held_out_volumes_and_reports_the_curve(volumes, tmp_path, capsys):
    out = tmp_path / "cli.safetensors"
    argv = ["pretrain", str(volumes[0]), "-o", str(out), "--steps", "2", "--batch-size", "1"]
    assert main([*argv, "--held-out", str(volumes[1]), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert [step for step, _ in summary["held_out"]] == [0, 2] and read_curve(out) == summary["held_out"]


def test_each_point_is_written_at_once_and_replaces_those_of_an_interrupted_run_from_its_step_on(pretrained, tmp_path):
    model, card = pretrained
    image = np.random.default_rng(1).random((1, 16, 72, 72), dtype=np.float32)
    log = tmp_path / "run.safetensors"
    interrupted = [[0, 0.5], [100, 0.4], [200, 0.3]]  # the run stopped after 200; its checkpoint was at 150
    curve = HeldOutCurve(model, [image], card.tile, (card.config.patch, 0.6), seed=5, points=interrupted, log=log)
    loss = curve.measure(200)
    assert curve.points == [[0, 0.5], [100, 0.4], [200, loss]] and read_curve(log) == curve.points
    curve.measure(100)
    assert [step for step, _ in read_curve(log)] == [0, 100]
