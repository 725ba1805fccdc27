"""Masked-reconstruction pretraining: the mask, the loss's trivial cases, batches shared out
over processes, and DDP on two gloo processes training as one process with twice the batch."""

import json
import os
import socket
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from safetensors.torch import load_file

from napari_bright4b.data.io import write_image
from napari_bright4b.errors import BadInputError
from napari_bright4b.models.bright4b import Bright4B
from napari_bright4b.models.presets import PRESETS
from napari_bright4b.models.session import load_model
from napari_bright4b.nn.hypersphere import l2norm
from napari_bright4b.training.patches import Example, PatchSampler
from napari_bright4b.training.pretrain.ema_teacher import EmaTeacher, distillation_loss, token_cosine_loss
from napari_bright4b.training.pretrain.masking import MaskedPatches, cells_to_voxels, masked_reconstruction_loss
from napari_bright4b.training.pretrain.run import HEAD, hidden_block, pretrain
from napari_bright4b.training.pretrain.token_unify import task_cells
from napari_bright4b.training.trainer import TrainSettings

SETTINGS = TrainSettings(steps=3, warmup=1, batch_size=1, learning_rate=1e-3)
# One step: later Adam steps divide float-rounding differences of near-zero gradients by
# their own size, so single weights may then differ by up to a learning-rate step.
ONE_STEP = replace(SETTINGS, steps=1)
ONE_EXPERT = replace(PRESETS["nano"].config, num_experts=1)  # no load term: nothing depends on the batch split


@pytest.fixture(scope="module")
def volume(tmp_path_factory):
    path = tmp_path_factory.mktemp("unlabeled") / "cells.tif"
    rng = np.random.default_rng(0)
    return write_image(path, rng.normal(1000, 50, (16, 72, 72)).astype(np.float32), (0.5, 0.2, 0.2))


def block_mask(shape, block, ratio, rng) -> torch.Tensor:
    """``(B, 1, Z, Y, X)``: a random ``ratio`` of each sample's ``block``-sized cells hidden."""
    batch, *size = shape
    count = int(np.prod([-(-n // b) for n, b in zip(size, block)]))
    return cells_to_voxels(np.stack([task_cells("random", count, ratio, rng)[0] for _ in range(batch)]), size, block)


def test_the_mask_hides_the_ratio_of_whole_token_blocks():
    mask = block_mask((3, 8, 32, 32), (2, 16, 16), 0.5, np.random.default_rng(0))
    assert mask.shape == (3, 1, 8, 32, 32) and torch.all(mask.mean((1, 2, 3, 4)) == 0.5)
    cells = mask[:, 0].reshape(3, 4, 2, 2, 16, 2, 16)
    assert torch.all(cells.amin((2, 4, 6)) == cells.amax((2, 4, 6)))  # each block all hidden or all seen


def test_the_loss_counts_hidden_voxels_only_and_is_zero_in_its_trivial_cases():
    original = torch.rand(2, 1, 4, 8, 8)
    mask = block_mask((2, 4, 8, 8), (2, 4, 4), 0.5, np.random.default_rng(1))
    target = torch.cat([original, mask], 1)
    assert masked_reconstruction_loss(original.clone(), original, target) == 0  # a perfect reconstruction
    nothing = torch.cat([original, torch.zeros_like(mask)], 1)
    assert masked_reconstruction_loss(torch.zeros_like(original), original, nothing) == 0  # nothing hidden
    wrong_where_seen = original + 5.0 * (1 - mask)
    assert masked_reconstruction_loss(wrong_where_seen, original, target) == 0  # visible voxels teach nothing
    assert masked_reconstruction_loss(original + 1.0, original, target) == pytest.approx(1.0)


def test_two_processes_share_out_exactly_the_patches_of_one_process_with_twice_the_batch():
    image = np.random.default_rng(0).random((1, 8, 40, 40), dtype=np.float32)

    def batches(rank, world, size):
        sampler = PatchSampler([Example(image, image)], (4, 16, 16), np.random.default_rng(3), foreground_share=0.0)
        patches = MaskedPatches(sampler, (2, 8, 8), 0.5, rank, world)
        return [patches.batch(size) for _ in range(3)]

    single = batches(0, 1, 4)
    shares = [batches(rank, 2, 2) for rank in range(2)]
    for step, (masked, target) in enumerate(single):
        assert torch.equal(masked, torch.cat([shares[0][step][0], shares[1][step][0]]))
        assert torch.equal(target, torch.cat([shares[0][step][1], shares[1][step][1]]))
        assert torch.equal(masked, target[:, :1] * (1 - target[:, 1:2]))  # the original where not hidden


def test_a_pretrained_checkpoint_records_its_objective_and_loads(volume, tmp_path):
    result = pretrain([volume], tmp_path / "pre.safetensors", settings=SETTINGS)
    assert result.steps == 3 and len(result.losses) == 3
    model, card = load_model(tmp_path / "pre.safetensors")
    assert card.head.task == "deblur" and card.head.class_names == ("reconstruction",)
    assert card.provenance["objectives"] == ["masked_reconstruction"] and card.voxel_size == (0.5, 0.2, 0.2)


def test_a_larger_masked_block_hides_whole_cubes_of_tokens_and_is_recorded(volume, tmp_path):
    pretrain([volume], tmp_path / "cubes.safetensors", settings=ONE_STEP, mask_block=2)
    _, card = load_model(tmp_path / "cubes.safetensors")
    assert card.tile == (16, 64, 64) and card.provenance["mask_block"] == 2
    assert hidden_block(card, 1) == (2, 16, 16) and hidden_block(card, 2) == (4, 32, 32)
    mask = block_mask((2, *card.tile), hidden_block(card, 2), 0.5, np.random.default_rng(0))
    cubes = mask[:, 0].reshape(2, 4, 4, 2, 32, 2, 32)
    assert torch.all(cubes.amin((2, 4, 6)) == cubes.amax((2, 4, 6))) and torch.all(mask.mean((1, 2, 3, 4)) == 0.5)
    for tokens in (3, 8):  # 3 does not divide the 8 x 4 x 4 tokens; 8 leaves no whole block
        with pytest.raises(BadInputError, match="use 1, 2, 4"):
            hidden_block(card, tokens)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank(rank: int, port: int, volume: str, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE="2")
    torch.set_num_threads(1)
    pretrain([volume], out, config=ONE_EXPERT, settings=ONE_STEP)


def test_ddp_on_two_gloo_processes_gives_the_weights_of_one_process_with_twice_the_batch(volume, tmp_path):
    torch.set_num_threads(1)
    single = tmp_path / "single.safetensors"
    pretrain([volume], single, config=ONE_EXPERT, settings=replace(ONE_STEP, batch_size=2))
    ddp = tmp_path / "ddp.safetensors"
    mp.spawn(_rank, args=(_free_port(), str(volume), str(ddp)), nprocs=2, join=True)
    one, two = load_file(single), load_file(ddp)
    assert one.keys() == two.keys()
    assert max((one[k] - two[k]).abs().max().item() for k in one) < 1e-5


def test_torchrun_runs_the_command_on_two_processes_and_one_writes(volume, tmp_path):
    torchrun = Path(sys.executable).with_name("torchrun")
    out = tmp_path / "run.safetensors"
    command = [str(torchrun), "--standalone", "--nproc-per-node", "2", "-m", "napari_bright4b.cli", "pretrain"]
    command += [str(volume)]
    command += ["-o", str(out), "--steps", "2", "--batch-size", "1", "--json"]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"}
    )
    assert done.returncode == 0, done.stderr[:3000]  # the workers' own errors come before the launcher's
    summary = json.loads(done.stdout[done.stdout.index("{") :])
    assert summary["processes"] == 2 and summary["steps"] == 2 and out.is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.loss.csv", "run.safetensors", "run.state.safetensors"]


def test_training_and_fine_tuning_start_from_a_pretrained_backbone(volume, tmp_path):
    from napari_bright4b.errors import CheckpointError
    from napari_bright4b.models.card import ModelCard
    from napari_bright4b.models.checkpoint import build_model, load_backbone
    from napari_bright4b.models.config import HeadConfig
    from napari_bright4b.training.finetune import FinetuneSettings, finetune

    path = tmp_path / "pre.safetensors"
    pretrain([volume], path, settings=SETTINGS)
    pretrained, _ = load_model(path)
    card = ModelCard(name="seg", config=PRESETS["nano"].config, head=HeadConfig(class_names=("nuclei",)))
    model = build_model(card)
    assert load_backbone(model, card, path) > 0
    for name, tensor in pretrained.state_dict().items():
        if not name.startswith("head."):
            assert torch.equal(model.state_dict()[name], tensor)
    other = ModelCard(name="other", config=replace(PRESETS["nano"].config, dim=32), head=card.head)
    with pytest.raises(CheckpointError, match="backbone is not this model's"):
        load_backbone(build_model(other), other, path)

    image = np.random.default_rng(0).normal(1000, 50, (1, 16, 72, 72)).astype(np.float32)
    image[0, :, 20:50, 20:50] += 300
    strokes = np.zeros((16, 72, 72), np.uint8)
    strokes[8, 2:6, :], strokes[8, 25:45, 25:45] = 1, 2
    result = finetune(
        image, (0.5, 0.2, 0.2), strokes, str(path), settings=FinetuneSettings(steps=2), out=tmp_path / "ft.safetensors"
    )
    assert result.card.head.class_names == ("background", "class 2")  # not the reconstruction head's name


def test_an_interrupted_pretraining_resumed_gives_the_weights_of_an_unbroken_run(volume, tmp_path):
    settings = replace(SETTINGS, checkpoint_every=2)
    unbroken = tmp_path / "unbroken.safetensors"
    pretrain([volume], unbroken, settings=settings)
    broken = tmp_path / "broken.safetensors"

    def interrupt(step, total, loss):
        if step == 3:
            raise KeyboardInterrupt  # after the checkpoint of step 2, before the end

    with pytest.raises(KeyboardInterrupt):
        pretrain([volume], broken, settings=settings, progress=interrupt)
    result = pretrain([volume], broken, settings=settings, resume=True)
    assert result.steps == 3
    one, two = load_file(unbroken), load_file(broken)
    assert max((one[k] - two[k]).abs().max().item() for k in one) < 1e-6


# EMA-teacher distillation: zero in its trivial case, the teacher an EMA of the student on the
# hypersphere, and a run that records and trains the objective.


def student() -> Bright4B:
    torch.manual_seed(0)
    return Bright4B(PRESETS["nano"].config, HEAD)


def test_the_token_loss_is_zero_for_the_same_tokens_and_two_for_opposite_ones():
    tokens = l2norm(torch.randn(2, 10, 16))
    assert token_cosine_loss(tokens, tokens).item() == pytest.approx(0.0, abs=1e-6)
    assert token_cosine_loss(tokens, -tokens).item() == pytest.approx(2.0, abs=1e-6)


def test_a_teacher_equal_to_the_student_on_an_unmasked_patch_adds_nothing():
    model = student().eval()
    image = torch.rand(1, 1, 4, 64, 64)
    nothing_hidden = torch.cat([image, torch.zeros_like(image)], 1)
    with torch.no_grad(), distillation_loss(model, momentum=0.5) as loss:
        value = loss(model(image), image, nothing_hidden)  # the masked reconstruction is 0 with nothing hidden
    assert value.item() == pytest.approx(0.0, abs=1e-5)


def test_the_teacher_follows_the_student_as_a_moving_average_on_the_hypersphere():
    model = student()
    teacher = EmaTeacher(model, momentum=0.9)
    old = teacher.model.stream_offsets.detach().clone()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1)
    teacher.update(model)
    torch.testing.assert_close(teacher.model.stream_offsets, 0.9 * old + 0.1 * model.stream_offsets)
    slots = teacher.model.blocks[0].moe.slot_keys
    torch.testing.assert_close(slots.norm(dim=0), torch.ones(slots.shape[1]))  # back on the sphere
    assert all(not p.requires_grad for p in teacher.model.parameters())
    with pytest.raises(ValueError, match="momentum"):
        EmaTeacher(model, momentum=1.0)


def test_the_student_learns_from_the_teacher_through_its_tokens():
    """Nothing hidden, so the reconstruction term is 0: what the loss and its gradient hold
    comes from the teacher, made to differ by a student that moved after the copy."""
    model = student()
    image = torch.rand(1, 1, 4, 64, 64)
    nothing_hidden = torch.cat([image, torch.zeros_like(image)], 1)
    with distillation_loss(model, momentum=0.5) as loss:
        with torch.no_grad():
            model.stream_offsets.mul_(-1.0)  # the teacher keeps half of the old offsets
        value = loss(model(image), image, nothing_hidden)
        value.backward()
    assert value.item() > 1e-4
    assert model.stream_offsets.grad.abs().sum() > 0 and model.embed.proj.weight.grad.abs().sum() > 0


def test_pretraining_with_the_teacher_records_both_objectives(volume, tmp_path):
    both = ["ema_teacher", "masked_reconstruction"]
    result = pretrain([volume], tmp_path / "pre.safetensors", settings=SETTINGS, objectives=both)
    alone = pretrain([volume], tmp_path / "alone.safetensors", settings=SETTINGS)
    assert result.steps == 3
    # the same first batch and weights: the teacher's token term adds to the reconstruction
    assert result.losses[0][1] > alone.losses[0][1]
    _, card = load_model(tmp_path / "pre.safetensors")
    assert card.provenance["objectives"] == ["masked_reconstruction", "ema_teacher"]
    assert card.description.startswith("Pretrained by masked reconstruction and ema teacher")
    with pytest.raises(BadInputError, match="unknown pretraining objective"):
        pretrain([volume], tmp_path / "x.safetensors", settings=SETTINGS, objectives=["masked_reconstruction", "clip"])
    with pytest.raises(BadInputError, match="always trained"):
        pretrain([volume], tmp_path / "x.safetensors", settings=SETTINGS, objectives=["ema_teacher"])


def test_the_command_line_offers_every_objective():
    from napari_bright4b.cli.pretrain import OBJECTIVES as OFFERED
    from napari_bright4b.training.pretrain.run import OBJECTIVES

    assert OFFERED == OBJECTIVES
