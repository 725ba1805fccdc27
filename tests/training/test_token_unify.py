"""TokenUnify's tasks as masks on the token lattice, its curriculum, the per-sample loss, and a
resumed TokenUnify pretraining equal to an unbroken one."""

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from napari_bright4b.data.io import write_image
from napari_bright4b.errors import BadInputError
from napari_bright4b.models.session import load_model
from napari_bright4b.training.patches import Example, PatchSampler
from napari_bright4b.training.pretrain.masking import MaskedPatches, cells_to_voxels, masked_reconstruction_loss
from napari_bright4b.training.pretrain.run import pretrain
from napari_bright4b.training.pretrain.token_unify import TASKS, curriculum_weights, task_cells
from napari_bright4b.training.trainer import TrainSettings


def test_the_curriculum_moves_from_random_to_next_to_next_all_token_prediction():
    progress = np.arange(90) / 90
    primary = [TASKS[int(np.argmax(curriculum_weights(share)))] for share in progress]
    assert primary == ["random"] * 30 + ["next"] * 30 + ["next_all"] * 30
    assert curriculum_weights(1.0) == curriculum_weights(0.99)  # the end of the run stays in the last third
    for share in (0.0, 0.5, 1.0):
        assert sum(curriculum_weights(share)) == pytest.approx(1.0)
        assert sorted(curriculum_weights(share)) == [0.09, 0.18, 0.73]


@pytest.mark.parametrize("seed", range(20))
def test_each_task_hides_and_scores_the_blocks_it_should(seed):
    rng = np.random.default_rng(seed)
    count = 32
    hidden, scored = task_cells("random", count, 0.25, rng)
    assert hidden.sum() == 8 and np.array_equal(scored, hidden)
    for task in ("next", "next_all"):
        hidden, scored = task_cells(task, count, 0.25, rng)
        assert hidden[0] == 0 and hidden[-1] == 1  # at least one block seen and one hidden
        assert np.all(np.diff(hidden) >= 0)  # the hidden blocks are one suffix of the path
        cut = int(np.argmax(hidden))
        expected = hidden if task == "next_all" else (np.arange(count) == cut).astype(np.float32)
        assert np.array_equal(scored, expected)  # next: only the first hidden block counts
    with pytest.raises(ValueError, match="unknown TokenUnify task"):
        task_cells("previous", count, 0.25, rng)


def test_the_path_runs_along_x_then_y_then_z():
    flags = np.zeros((1, 8), np.float32)
    flags[0, 1], flags[0, 2], flags[0, 4] = 1, 2, 3  # the second block of x, of y, of z
    voxels = cells_to_voxels(flags, (4, 6, 6), (2, 3, 3))[0, 0]
    assert voxels[0, 0, 3] == 1 and voxels[0, 3, 0] == 2 and voxels[2, 0, 0] == 3


def test_every_sample_weighs_the_same_however_many_voxels_it_scores():
    original = torch.zeros(2, 1, 2, 4, 4)
    mask = torch.zeros(2, 1, 2, 4, 4)
    mask[0, :, 0, 0, 0] = 1  # one voxel
    mask[1] = 1  # every voxel
    output = original.clone()
    output[0] += 1.0
    output[1] += 3.0
    target = torch.cat([original, mask], 1)
    assert masked_reconstruction_loss(output, original, target).item() == pytest.approx(5.0)  # (1 + 9) / 2
    assert masked_reconstruction_loss(original.clone(), original, target) == 0


def test_token_unify_batches_hide_what_they_score_and_follow_the_curriculum():
    image = np.random.default_rng(0).random((1, 8, 32, 32)).astype(np.float32) + 1.0
    sampler = PatchSampler([Example(image, image)], (8, 32, 32), np.random.default_rng(0), foreground_share=0.0)
    patches = MaskedPatches(sampler, (2, 8, 8), 0.5, token_unify=True)
    shares = []
    for progress in (0.0, 0.5, 0.9):
        patches.follow_schedule(progress)
        masked, target = patches.batch(60)
        original, scored = target[:, :1], target[:, 1:2]
        assert torch.all(masked[scored > 0] == 0)  # every scored voxel is hidden
        assert torch.equal(masked[masked > 0], original[masked > 0])
        counts = scored.flatten(1).sum(1) / (2 * 8 * 8)  # scored blocks per sample
        shares.append(((counts == 32).float().mean().item(), (counts == 1).float().mean().item()))
    assert shares[0][0] > 0.5  # random first: half of the 64 blocks scored
    assert shares[1][1] > 0.5  # then next: one block


def test_an_interrupted_token_unify_pretraining_resumed_gives_the_weights_of_an_unbroken_run(tmp_path):
    rng = np.random.default_rng(0)
    volume = write_image(tmp_path / "cells.tif", rng.normal(1000, 50, (16, 72, 72)).astype(np.float32), (0.5, 0.2, 0.2))
    settings = TrainSettings(steps=3, warmup=1, batch_size=4, learning_rate=1e-3, checkpoint_every=2)
    objectives = ["masked_reconstruction", "token_unify"]
    unbroken, broken = tmp_path / "unbroken.safetensors", tmp_path / "broken.safetensors"
    pretrain([volume], unbroken, settings=settings, objectives=objectives)

    def interrupt(step, total, loss):
        if step == 3:
            raise KeyboardInterrupt  # after the checkpoint of step 2: the last third of the curriculum is left

    with pytest.raises(KeyboardInterrupt):
        pretrain([volume], broken, settings=settings, objectives=objectives, progress=interrupt)
    pretrain([volume], broken, settings=settings, objectives=objectives, resume=True)
    one, two = load_file(unbroken), load_file(broken)
    assert max((one[k] - two[k]).abs().max().item() for k in one) < 1e-6
    _, card = load_model(unbroken)
    assert card.provenance["objectives"] == objectives
    with pytest.raises(BadInputError, match="resume with those objectives"):
        pretrain([volume], broken, settings=settings, resume=True)
