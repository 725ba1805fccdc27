"""Image-text pretraining: captions from metadata, the alignment and InfoNCE losses in their
trivial cases, and a run whose caption encoder trains, is saved and resumes."""

import json
import os
import socket
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from safetensors.torch import load_file

from napari_bright4b.data.io import write_image
from napari_bright4b.errors import BadInputError
from napari_bright4b.models.presets import PRESETS
from napari_bright4b.models.session import load_model
from napari_bright4b.training.pretrain.captions import (
    BUCKETS,
    caption_patterns,
    caption_text,
    caption_words,
    read_captions,
)
from napari_bright4b.training.pretrain.image_text import image_text_loss
from napari_bright4b.training.pretrain.run import pretrain
from napari_bright4b.training.trainer import TrainSettings

OBJECTIVES = ["masked_reconstruction", "image_text"]
ONE_EXPERT = replace(PRESETS["nano"].config, num_experts=1)  # no load term: nothing depends on the batch split
ONE_STEP = TrainSettings(steps=1, warmup=1, batch_size=1, learning_rate=1e-3)
FIELDS = {"modality": "light-sheet", "stain": "DAPI", "organism": "mouse brain", "structure": "nuclei"}


def test_a_caption_says_what_is_known_of_the_volume():
    assert (
        caption_text(FIELDS, (2.0, 1.0, 1.0))
        == "light-sheet volume of mouse brain, stain DAPI, structure nuclei, voxels 2 x 1 x 1 um"
    )
    assert caption_text({}, None) == "microscopy volume"
    words = caption_words("Light-sheet volume, stain DAPI")
    assert words == caption_words("light-sheet VOLUME stain dapi") and all(0 <= w < BUCKETS for w in words)


def test_captions_come_from_the_first_matching_pattern_and_bad_files_are_refused(tmp_path):
    path = tmp_path / "captions.json"
    path.write_text(json.dumps({"*dapi*": {"stain": "DAPI"}, "*.tif": {"modality": "confocal"}}))
    files = [tmp_path / "a_dapi.tif", tmp_path / "b.tif", tmp_path / "c.zarr"]
    captions = read_captions(caption_patterns(path), files, [(1.0, 0.5, 0.5), None, (2.0, 1.0, 1.0)])
    assert captions == [
        "microscopy volume, stain DAPI, voxels 1 x 0.5 x 0.5 um",
        "confocal volume",
        "microscopy volume, voxels 2 x 1 x 1 um",
    ]
    path.write_text(json.dumps({"*": {"colour": "red"}}))
    with pytest.raises(BadInputError, match="unknown field"):
        caption_patterns(path)
    path.write_text(json.dumps({"*": {"stain": ""}}))
    with pytest.raises(BadInputError, match="non-empty strings"):
        caption_patterns(path)
    path.write_text("{not json")
    with pytest.raises(BadInputError, match="cannot read the captions file"):
        caption_patterns(path)


def test_matching_images_and_captions_cost_nothing_and_swapped_ones_do():
    text = torch.eye(4, 8)  # four orthogonal captions
    sources = torch.arange(4)
    matched = image_text_loss(text.clone(), text, sources, torch.tensor(100.0))
    assert matched.item() < 1e-6
    swapped = image_text_loss(text[[1, 0, 3, 2]], text, sources, torch.tensor(100.0))
    assert swapped.item() > 1.0


def test_patches_with_one_caption_are_all_positives():
    text = torch.eye(3, 8)[[0, 0, 1]]  # two patches with caption 0, one with caption 1
    sources = torch.tensor([0, 0, 1])
    value = image_text_loss(text.clone(), text, sources, torch.tensor(100.0))
    assert value.item() == pytest.approx(2 / 3 * np.log(2), abs=1e-4)  # each of the two splits its mass in half


@pytest.fixture()
def two_volumes(tmp_path):
    rng = np.random.default_rng(0)
    first = write_image(tmp_path / "nuclei.tif", rng.normal(1000, 50, (16, 72, 72)).astype(np.float32), (0.5, 0.2, 0.2))
    second = write_image(tmp_path / "mito.tif", rng.gamma(2, 50, (16, 72, 72)).astype(np.float32), (0.5, 0.2, 0.2))
    captions = tmp_path / "captions.json"
    captions.write_text(json.dumps({"nuclei*": {"structure": "nuclei"}, "mito*": {"structure": "mitochondria"}}))
    return [first, second], captions


def test_an_image_text_run_records_its_captions_and_resumes_with_its_caption_encoder(two_volumes, tmp_path):
    volumes, captions = two_volumes
    settings = TrainSettings(steps=3, warmup=1, batch_size=2, learning_rate=1e-3, checkpoint_every=2)
    objectives = ["masked_reconstruction", "image_text"]
    unbroken, broken = tmp_path / "unbroken.safetensors", tmp_path / "broken.safetensors"
    pretrain(volumes, unbroken, settings=settings, objectives=objectives, captions=captions)
    _, card = load_model(unbroken)
    assert card.provenance["objectives"] == objectives
    assert sorted(card.provenance["captions"]) == [
        "microscopy volume, structure mitochondria, voxels 0.5 x 0.2 x 0.2 um",
        "microscopy volume, structure nuclei, voxels 0.5 x 0.2 x 0.2 um",
    ]
    state = load_file(tmp_path / "unbroken.state.safetensors")
    assert "objective.captions.embedding.weight" in state  # the caption encoder is kept for a resume

    def interrupt(step, total, loss):
        if step == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        pretrain(volumes, broken, settings=settings, objectives=objectives, captions=captions, progress=interrupt)
    pretrain(volumes, broken, settings=settings, objectives=objectives, captions=captions, resume=True)
    one, two = load_file(unbroken), load_file(broken)
    assert max((one[k] - two[k]).abs().max().item() for k in one) < 1e-6
    encoder = "objective.captions.embedding.weight"
    moved = load_file(tmp_path / "broken.state.safetensors")[encoder] - state[encoder]
    assert moved.abs().max() == 0  # the same caption encoder as the unbroken run's
    with pytest.raises(BadInputError, match="--captions"):
        pretrain(volumes, tmp_path / "x.safetensors", settings=settings, objectives=objectives)


def test_the_caption_encoder_learns():
    from napari_bright4b.models.bright4b import Bright4B
    from napari_bright4b.models.config import HeadConfig
    from napari_bright4b.models.presets import PRESETS
    from napari_bright4b.training.pretrain.image_text import image_text_objective
    from napari_bright4b.training.pretrain.masking import masked_reconstruction_loss

    model = Bright4B(PRESETS["nano"].config, HeadConfig(task="deblur", class_names=("r",), activation="identity"))
    image = torch.rand(2, 1, 4, 64, 64)
    target = torch.cat(
        [image, torch.zeros_like(image), torch.tensor([0.0, 1.0])[:, None, None, None, None].expand_as(image)], 1
    )
    with image_text_objective(model, ["nuclei", "mitochondria", "nuclei"], masked_reconstruction_loss) as objective:
        assert objective.caption_of.tolist() == [1, 0, 1]  # volumes with one caption share it
        value = objective(model(image), image, target)
        value.backward()
    assert value.item() > 0
    assert objective.captions.embedding.weight.grad.abs().sum() > 0 and model.embed.proj.weight.grad.abs().sum() > 0


def _rank(rank: int, port: int, volumes: list, captions: str, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE="2")
    torch.set_num_threads(1)
    pretrain(volumes, out, config=ONE_EXPERT, settings=ONE_STEP, objectives=OBJECTIVES, captions=captions)


def test_ddp_contrasts_the_global_batch_as_one_process_does(two_volumes, tmp_path):
    """Two processes with batch 1 (a batch of one has nothing to contrast on its own) train
    the model and the caption encoder as one process with batch 2."""
    volumes, captions = two_volumes
    torch.set_num_threads(1)
    single = tmp_path / "single.safetensors"
    pretrain(
        volumes,
        single,
        config=ONE_EXPERT,
        settings=replace(ONE_STEP, batch_size=2),
        objectives=OBJECTIVES,
        captions=captions,
    )
    ddp = tmp_path / "ddp.safetensors"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_rank, args=(port, [str(v) for v in volumes], str(captions), str(ddp)), nprocs=2, join=True)
    for one, two in ((single, ddp), (tmp_path / "single.state.safetensors", tmp_path / "ddp.state.safetensors")):
        a, b = load_file(one), load_file(two)
        names = [k for k in a if k != "torch_rng"]
        assert max((a[k] - b[k]).abs().max().item() for k in names) < 1e-5
