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
INSTANT_KEY = "bright4b_instant"  # an instant classifier's card (training/finetune/instant.py)
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


_PICKLE_SUFFIXES = (".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".bin")


def _refuse_non_safetensors(path: Path, head: bytes) -> None:
    """Name what a file that is not safetensors looks like; never parses its content."""
    never = "bright4b only loads .safetensors checkpoints and never unpickles files"
    if head[:2] == b"PK":
        raise CheckpointError(f"{path.name} is a zip archive (a PyTorch .pt/.pth file?); {never}")
    if head[:1] == b"\x80" or path.suffix.lower() in _PICKLE_SUFFIXES:
        raise CheckpointError(f"{path.name} looks like a pickle file; {never}")
    raise CheckpointError(f"{path.name} is not a safetensors file (truncated or another format)")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _tensor_entry(path: Path, name: str, info) -> tuple[TensorInfo, int]:
    """Validate one header entry; returns its info and the end of its byte range."""
    bad = CheckpointError(f"{path.name}: malformed header entry for tensor '{name}'")
    if not isinstance(info, dict):
        raise bad
    dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
    if not isinstance(dtype, str) or not isinstance(shape, list) or not isinstance(offsets, list):
        raise bad
    if not all(_is_int(v) and v >= 0 for v in shape) or len(offsets) != 2 or not all(_is_int(v) for v in offsets):
        raise bad
    begin, end = offsets
    if not 0 <= begin <= end:
        raise bad
    itemsize = _ITEMSIZE.get(dtype)
    if itemsize is not None and end - begin != itemsize * prod(shape):
        raise CheckpointError(f"{path.name}: tensor '{name}' byte range does not match its shape {shape}")
    return TensorInfo(dtype, tuple(shape)), end


def _json(path: Path, text: bytes | str, what: str):
    try:
        return json.loads(text)
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise CheckpointError(f"{path.name}: {what} is not valid JSON: {err}") from None


def read_header(path: str | os.PathLike) -> CheckpointHeader:
    """Parse and validate a checkpoint's header and card without loading any tensor."""
    path = Path(path)
    try:
        if not path.is_file():
            raise CheckpointError(f"checkpoint {path} does not exist")
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(9)
            # A safetensors file is an 8-byte little-endian length, then a JSON object.
            if len(head) < 9 or head[8:9] != b"{":
                _refuse_non_safetensors(path, head)
            (length,) = struct.unpack("<Q", head[:8])
            if length > min(_HEADER_LIMIT, size - 8):
                raise CheckpointError(f"{path.name} is truncated or not a safetensors file (header length {length})")
            fh.seek(8)
            raw = fh.read(length)
    except OSError as err:
        raise CheckpointError(f"checkpoint {path} cannot be read: {err.strerror or err}") from None
    header = _json(path, raw, "the safetensors header")
    if not isinstance(header, dict):
        raise CheckpointError(f"{path.name} has a malformed safetensors header")
    metadata = header.pop("__metadata__", None) or {}
    if isinstance(metadata, dict) and INSTANT_KEY in metadata:
        raise CheckpointError(
            f"{path.name} is an instant classifier (bright4b finetune --mode instant), not a network; "
            f"apply it with `bright4b segment IMAGE -m {path.name} -o OUT.tif`"
        )
    if not isinstance(metadata, dict) or not isinstance(metadata.get(CARD_KEY), str):
        raise CheckpointError(f"{path.name} has no bright4b model card (metadata key '{CARD_KEY}')")
    card = ModelCard.from_dict(_json(path, metadata[CARD_KEY], "the model card"))
    tensors, data_end = {}, 0
    for name, info in header.items():
        tensors[name], end = _tensor_entry(path, name, info)
        data_end = max(data_end, end)
    if 8 + length + data_end > size:
        raise CheckpointError(
            f"{path.name} is truncated: its header describes {8 + length + data_end} bytes but the file has {size}"
        )
    return CheckpointHeader(card, tensors)
