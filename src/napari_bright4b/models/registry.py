"""Where models come from: bundled in the package, the user's model folder, explicit paths,
or a named preset (random weights, for tests and benchmarks only).

The user folder is ``$BRIGHT4B_MODELS_DIR`` if set, else the platform's per-user data
folder. Nothing is ever downloaded.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from ..errors import BadInputError, CheckpointError
from .card import ModelCard
from .header import read_header
from .presets import PRESETS

BUNDLED_DIR = Path(__file__).parent / "weights"
ENV_MODELS_DIR = "BRIGHT4B_MODELS_DIR"
SUFFIX = ".safetensors"


def user_models_dir() -> Path:
    override = os.environ.get(ENV_MODELS_DIR)
    if override:
        return Path(override).expanduser()
    return platformdirs.user_data_path("napari-bright4b", appauthor=False) / "models"


@dataclass(frozen=True)
class ModelEntry:
    """A model the user can pick. ``source``: bundled, user, path or preset."""

    name: str
    source: str
    path: Path | None = None
    card: ModelCard | None = None
    error: str | None = None

    @property
    def is_preset(self) -> bool:
        return self.source == "preset"


def _scan(folder: Path, source: str) -> list[ModelEntry]:
    entries = []
    if not folder.is_dir():
        return entries
    for path in sorted(folder.glob(f"*{SUFFIX}")):
        try:
            entries.append(ModelEntry(path.stem, source, path, read_header(path).card))
        except CheckpointError as err:
            entries.append(ModelEntry(path.stem, source, path, error=str(err)))
    return entries


def list_models() -> list[ModelEntry]:
    """Bundled models, then the user's; unreadable files are listed with their error."""
    return _scan(BUNDLED_DIR, "bundled") + _scan(user_models_dir(), "user")


def resolve(spec: str | os.PathLike, allow_presets: bool = True) -> ModelEntry:
    """A registry name, a checkpoint path, or (if allowed) a preset name -> :class:`ModelEntry`."""
    text = os.fspath(spec)
    for entry in list_models():
        if entry.name == text:
            if entry.error:
                raise CheckpointError(entry.error)
            return entry
    if allow_presets and text in PRESETS:
        return ModelEntry(text, "preset")
    path = Path(text).expanduser()
    try:
        is_file = path.is_file()
    except OSError as err:  # e.g. a name longer than the file system allows
        raise BadInputError(f"{text!r} is not a usable model name or path: {err.strerror or err}") from None
    if is_file:
        return ModelEntry(path.stem, "path", path, read_header(path).card)
    if path.suffix or os.sep in text or (os.altsep and os.altsep in text):
        raise CheckpointError(f"checkpoint {text} does not exist")
    known = [e.name for e in list_models() if not e.error] + (list(PRESETS) if allow_presets else [])
    raise BadInputError(
        f"unknown model {text!r}; known models: {', '.join(known) or 'none'} (or give a .safetensors path)"
    )


def portable_name(spec: str | os.PathLike) -> str:
    """The registry name of the model ``spec`` names when it is a bundled or user-folder model
    (found again by name on another machine), else ``spec`` as given."""
    text = os.fspath(spec)
    path = Path(text).expanduser()
    for entry in list_models():
        if entry.path is not None and not entry.error and path.is_file() and entry.path.samefile(path):
            return entry.name
    return text
