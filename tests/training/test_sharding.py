"""FSDP2 on two gloo processes: the weights of one process with twice the batch, a resumed
run equal to an unbroken one, the optimizer's shards in safetensors; and which presets shard."""

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
from napari_bright4b.training.pretrain.run import pretrain
from napari_bright4b.training.sharding import SHARDED_PRESETS, STRATEGIES, choose_strategy
from napari_bright4b.training.trainer import TrainSettings

SETTINGS = TrainSettings(steps=3, warmup=1, batch_size=1, learning_rate=1e-3, checkpoint_every=2)
ONE_EXPERT = replace(PRESETS["nano"].config, num_experts=1)  # no load term: nothing depends on the batch split


@pytest.fixture(scope="module")
def volume(tmp_path_factory):
    path = tmp_path_factory.mktemp("unlabeled") / "cells.tif"
    rng = np.random.default_rng(0)
    return str(write_image(path, rng.normal(1000, 50, (16, 72, 72)).astype(np.float32), (0.5, 0.2, 0.2)))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _interrupt_at_3(step, total, loss):
    if step == 3:
        raise KeyboardInterrupt  # after the checkpoint of step 2, before the end


def _rank(rank: int, port: int, volume: str, out: str, settings: TrainSettings, how: str) -> None:
    """One of two processes pretraining with FSDP; ``how``: ``run``, ``interrupt`` (at step 3)
    or ``resume``."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE="2")
    torch.set_num_threads(1)
    kwargs = dict(config=ONE_EXPERT, settings=settings, sharding="fsdp", resume=how == "resume")
    try:
        pretrain([volume], out, progress=_interrupt_at_3 if how == "interrupt" else None, **kwargs)
    except KeyboardInterrupt:
        assert how == "interrupt"
        os._exit(0)  # as a killed run ends: no interpreter shutdown racing gloo's threads


def _on_two_processes(volume: str, out, settings: TrainSettings, how: str = "run") -> None:
    mp.spawn(_rank, args=(_free_port(), volume, str(out), settings, how), nprocs=2, join=True)


def _max_difference(a, b) -> float:
    one, two = load_file(a), load_file(b)
    assert one.keys() == two.keys()
    return max((one[k] - two[k]).abs().max().item() for k in one)


@pytest.mark.parametrize("optimizer", ["adamw", "factored"])
def test_fsdp_on_two_gloo_processes_gives_the_weights_of_one_process_with_twice_the_batch(volume, tmp_path, optimizer):
    torch.set_num_threads(1)
    one_step = replace(SETTINGS, steps=1, optimizer=optimizer)  # later Adam steps amplify rounding (test_pretrain.py)
    single = tmp_path / "single.safetensors"
    pretrain([volume], single, config=ONE_EXPERT, settings=replace(one_step, batch_size=2))
    sharded = tmp_path / "fsdp.safetensors"
    _on_two_processes(volume, sharded, one_step)
    assert _max_difference(single, sharded) < 1e-5


def test_an_interrupted_fsdp_run_resumed_from_its_shards_gives_the_weights_of_an_unbroken_one(volume, tmp_path):
    unbroken, broken = tmp_path / "unbroken.safetensors", tmp_path / "broken.safetensors"
    _on_two_processes(volume, unbroken, SETTINGS)
    _on_two_processes(volume, broken, SETTINGS, "interrupt")
    shards = tmp_path / "broken.state-00000002"
    assert sorted(p.suffix for p in shards.iterdir()) == [".safetensors", ".safetensors"]  # one per process
    (tmp_path / "broken.state-00000003.partial").mkdir()  # as a run stopped while saving leaves it
    (tmp_path / "broken[1].state-00000001").mkdir()  # another run's, kept
    _on_two_processes(volume, broken, SETTINGS, "resume")
    assert _max_difference(unbroken, broken) < 1e-6
    assert not shards.exists() and (tmp_path / "broken.state-00000003").is_dir()  # only the latest is kept
    assert not (tmp_path / "broken.state-00000003.partial").exists()
    assert (tmp_path / "broken[1].state-00000001").is_dir()


def test_the_large_presets_shard_by_default_and_the_small_ones_copy():
    assert {preset: choose_strategy("auto", preset) for preset in PRESETS} == {
        preset: "fsdp" if preset in SHARDED_PRESETS else "ddp" for preset in PRESETS
    }
    assert choose_strategy("fsdp", "nano") == "fsdp" and choose_strategy("ddp", "full-4b") == "ddp"
    with pytest.raises(BadInputError, match="unknown sharding"):
        choose_strategy("zero3", "nano")


def test_objectives_that_need_the_whole_model_are_refused_only_when_sharding_is_asked_for(volume, tmp_path):
    both = ["masked_reconstruction", "ema_teacher"]
    with pytest.raises(BadInputError, match="--sharding ddp"):
        pretrain([volume], tmp_path / "x.safetensors", objectives=both, sharding="fsdp")
    result = pretrain([volume], tmp_path / "y.safetensors", objectives=both, config=ONE_EXPERT, settings=SETTINGS)
    assert result.steps == SETTINGS.steps  # auto keeps the whole model for them


def test_the_command_line_offers_every_sharding():
    from napari_bright4b.cli.pretrain import SHARDINGS

    assert SHARDINGS == STRATEGIES
