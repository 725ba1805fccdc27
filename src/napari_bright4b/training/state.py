"""Resumable training state (optimizer moments, step, random generators) as safetensors.

Written next to the model checkpoint as ``<name>.state.safetensors``; never pickled. The
optimizer's tensors are stored flat (``state.<param index>.<key>``) and its hyper-
parameters and the generators' states as JSON metadata.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from ..errors import BadInputError
from ..files import atomic_path

KEY = "bright4b_train_state"


def state_path(checkpoint: str | Path) -> Path:
    checkpoint = Path(checkpoint)
    return checkpoint.with_name(checkpoint.stem + ".state.safetensors")


def save_state(
    path: Path, optimizer: torch.optim.Optimizer, step: int, rng: np.random.Generator, losses: list, seconds: float
) -> None:
    """Write the optimizer, both generators, the step, the loss log and the training seconds
    so far (every run's, summed) to ``path``, atomically."""
    state = optimizer.state_dict()
    tensors = {
        f"state.{index}.{key}": value.detach().cpu().contiguous()
        for index, entries in state["state"].items()
        for key, value in entries.items()
        if torch.is_tensor(value)
    }
    tensors["torch_rng"] = torch.get_rng_state()
    meta = {
        "step": step,
        "param_groups": state["param_groups"],
        "numpy_rng": rng.bit_generator.state,
        "losses": losses,
        "seconds": seconds,
    }
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={KEY: json.dumps(meta)})


def load_state(path: Path, optimizer: torch.optim.Optimizer, rng: np.random.Generator) -> tuple[int, list, float]:
    """Restore ``optimizer`` and ``rng`` in place; return the step reached, the loss log and
    the training seconds so far (0 for states written before they were recorded)."""
    if not path.is_file():
        raise BadInputError(f"cannot resume: no training state at {path} (it is written at every checkpoint)")
    with safe_open(str(path), framework="pt") as f:
        meta = json.loads((f.metadata() or {}).get(KEY, "null") or "null")
        if not isinstance(meta, dict):
            raise BadInputError(f"{path} is not a bright4b training state")
        tensors = {name: f.get_tensor(name) for name in f.keys()}
    entries: dict[int, dict] = {}
    for name, value in tensors.items():
        if name.startswith("state."):
            _, index, key = name.split(".", 2)
            entries.setdefault(int(index), {})[key] = value
    optimizer.load_state_dict({"state": entries, "param_groups": meta["param_groups"]})
    torch.set_rng_state(tensors["torch_rng"])
    rng.bit_generator.state = meta["numpy_rng"]
    return int(meta["step"]), list(meta["losses"]), float(meta.get("seconds", 0.0))
