"""Reading and validating a checkpoint's header and model card without loading tensors.

Pure Python (no torch), so listing models and printing cards is instant. Nothing is
ever unpickled: pickle and zip (``.pt``/``.pth``) files are recognised and refused.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass
from math import prod
from pathlib import Path

from ..errors import CheckpointError
from .card import ModelCard

CARD_KEY = "bright4b_card"
_HEADER_LIMIT = 100 * 1024 * 1024
FLOAT_DTYPES = ("F32", "F16", "BF16", "F64")
_ITEMSIZE = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}


@dataclass(frozen=True)
class TensorInfo:
    dtype: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class CheckpointHeader:
    card: ModelCard
    tensors: dict[str, TensorInfo]


def _sniff(path: Path, head: bytes) -> None:
    if head[:2] == b"PK":
        raise CheckpointError(
            f"{path.name} is a zip archive (a PyTorch .pt/.pth file?); bright4b only loads .safetensors "
            "checkpoints and never unpickles files"
        )
    if head[:1] == b"\x80" or path.suffix.lower() in (".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".bin"):
        raise CheckpointError(
            f"{path.name} looks like a pickle file; bright4b only loads .safetensors checkpoints and never "
            "unpickles files"
        )


def read_header(path: str | os.PathLike) -> CheckpointHeader:
    """Parse and validate a checkpoint's header and card without loading any tensor."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(8)
        _sniff(path, head)
        if len(head) < 8:
            raise CheckpointError(f"{path.name} is truncated: {size} bytes is too short for a safetensors file")
        (length,) = struct.unpack("<Q", head)
        if length > min(_HEADER_LIMIT, size - 8):
            raise CheckpointError(f"{path.name} is truncated or not a safetensors file (header length {length})")
        try:
            header = json.loads(fh.read(length))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise CheckpointError(f"{path.name} has a malformed safetensors header: {err}") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{path.name} has a malformed safetensors header")
    metadata = header.pop("__metadata__", None) or {}
    if CARD_KEY not in metadata:
        raise CheckpointError(f"{path.name} has no bright4b model card (metadata key '{CARD_KEY}')")
    try:
        card_data = json.loads(metadata[CARD_KEY])
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{path.name}: model card is not valid JSON: {err}") from None
    card = ModelCard.from_dict(card_data)
    tensors, data_end = {}, 0
    for name, info in header.items():
        try:
            dtype, shape, (begin, end) = info["dtype"], tuple(info["shape"]), info["data_offsets"]
        except (KeyError, TypeError, ValueError):
            raise CheckpointError(f"{path.name}: malformed header entry for tensor '{name}'") from None
        itemsize = _ITEMSIZE.get(dtype)
        if itemsize is not None and end - begin != itemsize * prod(shape):
            raise CheckpointError(f"{path.name}: tensor '{name}' byte range does not match its shape {list(shape)}")
        tensors[name] = TensorInfo(dtype, shape)
        data_end = max(data_end, end)
    if 8 + length + data_end > size:
        raise CheckpointError(
            f"{path.name} is truncated: its header describes {8 + length + data_end} bytes but the file has {size}"
        )
    return CheckpointHeader(card, tensors)
