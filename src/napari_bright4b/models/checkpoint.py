"""Safe checkpoints: one ``.safetensors`` file holding the tensors and the model card.

Nothing is ever unpickled. A file is refused, with a message that names the problem,
if it is a pickle or zip (``.pt``/``.pth``), truncated, has a malformed header or card,
or if its tensors do not match the model its card describes. Saving is atomic.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from ..errors import BadInputError, CheckpointError
from ..files import atomic_path
from .bright4b import Bright4B
from .card import ModelCard
from .header import CARD_KEY, FLOAT_DTYPES, TensorInfo, read_header

_DEFAULT_DTYPE_LOCK = threading.Lock()


def build_model(card: ModelCard, device: str | torch.device = "cpu", dtype: torch.dtype | None = None) -> Bright4B:
    """A freshly initialised model for ``card`` (random weights).

    With ``dtype`` the weights are created in that dtype from the start (no float32
    copy of a multi-billion-parameter model); torch's default dtype is switched for the
    duration, under a lock, since it is process-wide.
    """
    if dtype is None:
        with torch.device(device):
            return Bright4B(card.config, card.head)
    with _DEFAULT_DTYPE_LOCK:
        previous = torch.get_default_dtype()
        torch.set_default_dtype(dtype)
        try:
            with torch.device(device):
                return Bright4B(card.config, card.head)
        finally:
            torch.set_default_dtype(previous)


def check_tensors(card: ModelCard, tensors: dict[str, TensorInfo], source: str) -> None:
    """Refuse tensors that do not match the model described by ``card``."""
    try:
        expected = {k: tuple(v.shape) for k, v in build_model(card, "meta").state_dict().items()}
    except Exception as err:  # a config that validates field by field but cannot be built
        raise CheckpointError(f"{source}: model card field 'config' describes no buildable model: {err}") from None
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing:
        raise CheckpointError(f"{source}: tensor '{missing[0]}' required by the model card's config is missing")
    if unexpected:
        raise CheckpointError(f"{source}: tensor '{unexpected[0]}' is not part of the model the card describes")
    for name, shape in expected.items():
        info = tensors[name]
        if info.shape != shape:
            raise CheckpointError(
                f"{source}: tensor '{name}' has shape {list(info.shape)} but the card's config needs {list(shape)}"
            )
        if info.dtype not in FLOAT_DTYPES:
            raise CheckpointError(f"{source}: tensor '{name}' has unsupported dtype {info.dtype}")


def load_checkpoint(
    path: str | os.PathLike, device: str | torch.device = "cpu", dtype: torch.dtype | None = None
) -> tuple[Bright4B, ModelCard]:
    """Load a validated model in eval mode, without ever materialising random weights."""
    path = Path(path)
    header = read_header(path)
    check_tensors(header.card, header.tensors, path.name)
    try:
        device = torch.device(device)
    except RuntimeError as err:
        raise BadInputError(f"unknown device {device!r}: {err}") from None
    state = {}
    try:
        with safe_open(str(path), framework="pt", device="cpu") as fh:
            for name in fh.keys():
                state[name] = fh.get_tensor(name)
    except Exception as err:  # safetensors raises its own error types for corrupt files
        raise CheckpointError(f"{path.name} could not be read: {err}") from None
    state = {name: tensor.to(device=device, dtype=dtype) for name, tensor in state.items()}
    model = build_model(header.card, "meta")
    model.load_state_dict(state, strict=True, assign=True)
    return model.eval(), header.card


def load_backbone(model: Bright4B, card: ModelCard, path: str | os.PathLike) -> int:
    """Copy the backbone of checkpoint ``path`` (e.g. from ``bright4b pretrain``) into ``model``
    of ``card``, in place; returns the tensors copied. The two must share a backbone
    configuration (:meth:`~.config.Bright4BConfig.same_weights`: the routing settings may
    differ, and ``model`` keeps its own). The head is copied too where both have the same
    head (:meth:`~.config.HeadConfig.same_weights`: training on from a bundled model), else left as
    it is.
    A centred router's running centre is a statistic, not a weight: a model that routes
    uncentred leaves it, and one that routes centred from an uncentred checkpoint learns it anew.
    Router context weights start at zero where the checkpoint has none, and are left where the
    model reads no context."""
    source, source_card = load_checkpoint(path)
    if not source_card.config.same_weights(card.config):
        raise CheckpointError(
            f"{Path(path).name}'s backbone is not this model's (another preset or channel count): start from a "
            "checkpoint of the same preset and channels"
        )
    same_head = source_card.head.same_weights(card.head)
    own = model.state_dict()
    backbone = {
        k: v
        for k, v in source.state_dict().items()
        if (same_head or not k.startswith("head."))
        and (k in own or not k.endswith((".router_centre", ".router_centre_updates", ".router_context")))
    }
    missing = model.load_state_dict(backbone, strict=False)
    if missing.unexpected_keys:
        raise CheckpointError(f"{Path(path).name} has weights this model lacks: {missing.unexpected_keys[:3]}")
    return len(backbone)


def save_checkpoint(
    model: Bright4B, card: ModelCard, path: str | os.PathLike, weights: dict[str, torch.Tensor] | None = None
) -> Path:
    """Write ``model`` (or its state dict ``weights``, e.g. gathered from shards) and ``card``
    to ``path`` atomically (temporary file, fsync, rename)."""
    path = Path(path)
    if path.suffix != ".safetensors":
        raise CheckpointError(f"checkpoint path must end in .safetensors, got {path.name}")
    weights = model.state_dict() if weights is None else weights
    tensors = {k: v.detach().contiguous().cpu() for k, v in weights.items()}
    metadata = {"format": "pt", CARD_KEY: json.dumps(card.to_dict())}
    with atomic_path(path) as tmp:
        save_file(tensors, tmp, metadata=metadata)
    return path
