"""How a model is spread over the processes of a ``torchrun``: DDP or FSDP2 (``fully_shard``).

- ``ddp``: every process keeps the whole model; DistributedDataParallel averages gradients.
- ``fsdp``: every transformer block, then the rest, is sharded along its first dimension
  (FSDP2), so each of N processes keeps 1/N of the weights, gradients and optimizer moments
  and gathers one block's weights at a time. ``auto`` picks it for :data:`SHARDED_PRESETS`.

FSDP2 cannot shard a zero-dimensional tensor, so the model's few scalar parameters (Soft-MoE
logit scales, hyper-connection scales) stay whole on every process and their gradients are
averaged by a hook, as the sharded ones are by FSDP's reduce-scatter.

A sharded run's optimizer moments are saved with ``torch.distributed.checkpoint`` in
safetensors files, one per process (``HuggingFaceStorageWriter``: nothing is pickled), in a
folder per step that appears whole or not at all; the model itself is gathered to rank 0
and written as an ordinary safetensors checkpoint. FSDP2 and these checkpoints need a
recent torch (2.8 or later); they are imported only when used.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from ..errors import BadInputError

STRATEGIES = ("auto", "ddp", "fsdp")
SHARDED_PRESETS = ("base", "full-4b")  # too large to keep whole on every device


def choose_strategy(strategy: str, preset: str | None) -> str:
    """``ddp`` or ``fsdp``: ``strategy`` itself, or for ``auto`` ``fsdp`` on :data:`SHARDED_PRESETS`."""
    if strategy not in STRATEGIES:
        raise BadInputError(f"unknown sharding {strategy!r}; use one of {', '.join(STRATEGIES)}")
    if strategy != "auto":
        return strategy
    return "fsdp" if preset in SHARDED_PRESETS else "ddp"


def distribute(core: nn.Module, strategy: str) -> nn.Module:
    """The module to train on this process: ``core`` in DDP, or ``core`` itself sharded in place
    (``fsdp``, each block of ``core.blocks`` and then the rest). Needs a process group."""
    if strategy == "ddp":
        from torch.nn.parallel import DistributedDataParallel

        return DistributedDataParallel(core)
    from torch.distributed.fsdp import fully_shard

    scalars = {p for p in core.parameters() if p.ndim == 0}
    for param in scalars:
        param.register_post_accumulate_grad_hook(average_gradient)
    for block in core.blocks:
        fully_shard(block, ignored_params=scalars)
    fully_shard(core, ignored_params=scalars)
    return core


def average_gradient(param: torch.Tensor) -> None:
    """``param``'s gradient averaged over the processes, in place."""
    dist.all_reduce(param.grad)
    param.grad.div_(dist.get_world_size())


def is_sharded(model: nn.Module) -> bool:
    try:
        from torch.distributed.fsdp import FSDPModule
    except ImportError:  # a torch without FSDP2 shards nothing
        return False
    return isinstance(model, FSDPModule)


def full_weights(model: nn.Module) -> dict[str, torch.Tensor]:
    """The whole state dict of a sharded ``model`` on the CPU of rank 0 (empty elsewhere);
    every process must call it."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))


def save_optimizer(folder: Path, model: nn.Module, optimizer: torch.optim.Optimizer) -> list[dict]:
    """Write each process's share of ``optimizer``'s moments to ``folder`` (every process must
    call it): into ``<folder>.partial`` first, which rank 0 then puts in ``folder``'s place.
    Returns the parameter groups (JSON-ready, parameters named) to keep beside it."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

    partial = folder.with_name(folder.name + ".partial")
    if dist.get_rank() == 0:
        shutil.rmtree(partial, ignore_errors=True)  # left by a run that stopped while saving
    dist.barrier()
    state = get_optimizer_state_dict(model, optimizer)
    writer = dcp.HuggingFaceStorageWriter(str(partial), save_distributed=True)
    dcp.save({"state": state["state"]}, storage_writer=writer)
    if dist.get_rank() == 0:  # dcp.save returns once every process has written its file
        aside = folder.with_name(folder.name + ".old")
        shutil.rmtree(aside, ignore_errors=True)
        if folder.exists():
            folder.rename(aside)
        partial.rename(folder)
        shutil.rmtree(aside, ignore_errors=True)
    return state["param_groups"]


def load_optimizer(folder: Path, model: nn.Module, optimizer: torch.optim.Optimizer, param_groups: list[dict]) -> None:
    """Restore ``optimizer`` of a sharded ``model`` from :func:`save_optimizer`'s ``folder`` and
    ``param_groups`` (every process must call it; tested on as many processes as saved it)."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict, set_optimizer_state_dict

    if not folder.is_dir():
        raise BadInputError(f"cannot resume: the optimizer state folder {folder} is missing")
    state = {"state": get_optimizer_state_dict(model, optimizer)["state"]}  # shapes to read into
    dcp.load(state, storage_reader=dcp.HuggingFaceStorageReader(str(folder)))
    set_optimizer_state_dict(model, optimizer, {"state": state["state"], "param_groups": param_groups})
