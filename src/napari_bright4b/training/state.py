"""Resumable training state (optimizer moments, step, random generators) as safetensors.

Written next to the model checkpoint as ``<name>.state.safetensors``; never pickled. The
optimizer's tensors are stored flat (``state.<param index>.<key>``) and its hyper-
parameters and the generators' states as JSON metadata. A sharded (FSDP) run keeps its
optimizer's moments in a folder per step instead, ``<name>.state-<step>/``
(:mod:`.sharding`), which the file names; a folder is complete before the file names it,
and the older ones are removed after.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from ..errors import BadInputError
from ..files import atomic_path
from .sharding import load_optimizer

KEY = "bright4b_train_state"
STEP_DIGITS = 8
OBJECTIVE = "objective"  # the prefix of a trained objective's weights


def state_path(checkpoint: str | Path) -> Path:
    checkpoint = Path(checkpoint)
    return checkpoint.with_name(checkpoint.stem + ".state.safetensors")


def optimizer_folder(checkpoint: str | Path, step: int) -> Path:
    """Where a sharded run keeps its optimizer's moments at ``step``."""
    checkpoint = Path(checkpoint)
    return checkpoint.with_name(f"{checkpoint.stem}.state-{step:0{STEP_DIGITS}d}")


def save_state(
    path: Path,
    optimizer: torch.optim.Optimizer,
    step: int,
    rng: np.random.Generator,
    losses: list,
    seconds: float,
    sharded: tuple[Path, list[dict]] | None = None,
    objective: torch.nn.Module | None = None,
) -> None:
    """Write the optimizer, both generators, the step, the loss log and the training seconds
    so far (every run's, summed) to ``path``, atomically, with the weights of a trained
    ``objective`` (e.g. a caption encoder). ``sharded``: the folder the optimizer's moments
    were saved to and its parameter groups (:func:`.sharding.save_optimizer`), named in
    place of the moments; the other step folders are then removed."""
    state = optimizer.state_dict() if sharded is None else {"state": {}, "param_groups": sharded[1]}
    tensors = {
        f"state.{index}.{key}": value.detach().cpu().contiguous()
        for index, entries in state["state"].items()
        for key, value in entries.items()
        if torch.is_tensor(value)
    }
    tensors["torch_rng"] = torch.get_rng_state()
    if objective is not None:
        tensors.update({f"{OBJECTIVE}.{k}": v.detach().cpu().contiguous() for k, v in objective.state_dict().items()})
    meta = {
        "step": step,
        "optimizer": type(optimizer).__name__,
        "param_groups": state["param_groups"],
        "numpy_rng": rng.bit_generator.state,
        "losses": losses,
        "seconds": seconds,
        "optimizer_folder": None if sharded is None else sharded[0].name,
    }
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={KEY: json.dumps(meta)})
    if sharded is not None:
        folder = sharded[0]
        step_folder = re.compile(re.escape(folder.name[:-STEP_DIGITS]) + rf"\d{{{STEP_DIGITS}}}(\.partial|\.old)?")
        for stale in folder.parent.iterdir():
            if stale != folder and stale.is_dir() and step_folder.fullmatch(stale.name):
                shutil.rmtree(stale)


def _read_state(path: Path) -> tuple[dict, dict[str, torch.Tensor]]:
    """The metadata and tensors of the state file at ``path``."""
    if not path.is_file():
        raise BadInputError(f"cannot resume: no training state at {path} (it is written at every checkpoint)")
    with safe_open(str(path), framework="pt") as f:
        meta = json.loads((f.metadata() or {}).get(KEY, "null") or "null")
        if not isinstance(meta, dict):
            raise BadInputError(f"{path} is not a bright4b training state")
        return meta, {name: f.get_tensor(name) for name in f.keys()}


def load_state(
    path: Path,
    optimizer: torch.optim.Optimizer,
    rng: np.random.Generator,
    model: torch.nn.Module,
    objective: torch.nn.Module | None = None,
) -> tuple[int, list, float]:
    """Restore ``optimizer`` of ``model``, ``rng`` and a trained ``objective``'s weights in place;
    return the step reached, the loss log and the training seconds so far (0 for states
    written before they were recorded). A sharded run's state is read by every process."""
    meta, tensors = _read_state(path)
    saved, current = meta.get("optimizer", "AdamW"), type(optimizer).__name__  # older states: AdamW's
    if saved != current:
        raise BadInputError(
            f"{path.name} was written by the {saved} optimizer and this run uses {current}; "
            "resume with the optimizer it trained with (--optimizer)"
        )
    if objective is not None:
        prefix = OBJECTIVE + "."
        objective.load_state_dict({k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)})
    entries: dict[int, dict] = {}
    for name, value in tensors.items():
        if name.startswith("state."):
            _, index, key = name.split(".", 2)
            entries.setdefault(int(index), {})[key] = value
    if meta.get("optimizer_folder"):
        load_optimizer(path.parent / meta["optimizer_folder"], model, optimizer, meta["param_groups"])
    else:
        optimizer.load_state_dict({"state": entries, "param_groups": meta["param_groups"]})
    torch.set_rng_state(tensors["torch_rng"])
    rng.bit_generator.state = meta["numpy_rng"]
    return int(meta["step"]), list(meta["losses"]), float(meta.get("seconds", 0.0))
