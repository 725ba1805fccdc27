"""Captions of unlabeled volumes for image-text pretraining, built from what is known of each.

A caption is one sentence from the volume's metadata: the modality, the stain, the organism
and the structure when the user names them (``--captions FILE.json``), and the voxel size
the file records, e.g. ``light-sheet volume of mouse brain, stain DAPI, structure nuclei,
voxels 2 x 1 x 1 um``. The captions file maps file-name patterns (``fnmatch``, first match
wins) to those fields::

    {"*dapi*.tif": {"modality": "light-sheet", "stain": "DAPI", "organism": "mouse brain",
                    "structure": "nuclei"},
     "yeast_*": {"modality": "spinning-disk confocal", "structure": "mitochondria"}}

Words are hashed into a fixed number of buckets (:func:`caption_words`), so the caption
encoder needs no vocabulary file and works offline.
"""

from __future__ import annotations

import fnmatch
import json
import re
import zlib
from collections.abc import Sequence
from pathlib import Path

from ...errors import BadInputError

FIELDS = ("modality", "stain", "organism", "structure")
BUCKETS = 4096


def caption_text(fields: dict[str, str], voxel_size: Sequence[float] | None) -> str:
    """One sentence from ``fields`` (any of :data:`FIELDS`) and ``voxel_size`` (z, y, x, um)."""
    text = f"{fields.get('modality', 'microscopy')} volume"
    if "organism" in fields:
        text += f" of {fields['organism']}"
    for field in ("stain", "structure"):
        if field in fields:
            text += f", {field} {fields[field]}"
    if voxel_size is not None:
        text += ", voxels " + " x ".join(f"{v:.3g}" for v in voxel_size) + " um"
    return text


def caption_words(text: str) -> list[int]:
    """The words of ``text`` (lower case, letters, digits, dots and hyphens) as bucket ids in
    ``[0, BUCKETS)`` (CRC-32 of each word: the same on every machine)."""
    return [zlib.crc32(word.encode()) % BUCKETS for word in re.findall(r"[a-z0-9.\-]+", text.lower())]


def caption_patterns(path: str | Path) -> dict[str, dict[str, str]]:
    """The checked contents of the captions file at ``path``: file-name patterns to fields."""
    try:
        patterns = json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise BadInputError(f"cannot read the captions file {path}: {err}") from None
    if not isinstance(patterns, dict):
        raise BadInputError(f"{path} must hold an object mapping file-name patterns to captions")
    for pattern, fields in patterns.items():
        _check_fields(pattern, fields)
    return patterns


def read_captions(patterns: dict[str, dict[str, str]], files: Sequence[Path], voxel_sizes: Sequence) -> list[str]:
    """The caption of each of ``files`` (with its ``voxel_sizes``) from ``patterns``
    (:func:`caption_patterns`); a file no pattern matches is described by its voxel size alone."""
    return [caption_text(_first_match(patterns, file.name), voxel) for file, voxel in zip(files, voxel_sizes)]


def _check_fields(pattern: str, fields) -> None:
    if not isinstance(fields, dict) or not all(isinstance(v, str) and v.strip() for v in fields.values()):
        raise BadInputError(f"captions for {pattern!r} must map fields to non-empty strings, e.g. {{'stain': 'DAPI'}}")
    unknown = sorted(set(fields) - set(FIELDS))
    if unknown:
        raise BadInputError(f"captions for {pattern!r} name unknown field(s) {unknown}; use {', '.join(FIELDS)}")


def _first_match(patterns: dict[str, dict], name: str) -> dict[str, str]:
    return next((fields for pattern, fields in patterns.items() if fnmatch.fnmatch(name, pattern)), {})
