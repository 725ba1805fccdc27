"""Run settings as a small JSON file: saved from the dock (**Save settings...**), read by
``bright4b segment|deblur|classify|finetune --settings FILE`` (flags given on the command
line win), and recorded in what the run writes.

```json
{"format": "bright4b-settings", "version": 1, "task": "segment",
 "model": "bright4b-nano-organelles", "tile": [16, 128, 128], "overlap": 0.25, "views": 8,
 "threshold": "model", "instances": true, "split_touching": true, "min_radius": 2.0,
 "device": "auto"}
```

Keys are the command's option names with ``_`` for ``-``; every key is optional but
``task``. Torch-free: the CLI validates a file before importing torch.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path

from .errors import BadInputError
from .files import atomic_path
from .models.card import VIEW_COUNTS
from .training.finetune.modes import CLASSIFIERS, MODES

FORMAT = "bright4b-settings"
VERSION = 1


def _number(low: float, high: float, closed_high: bool = False) -> Callable:
    def check(value):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if not (ok and low < value and (value <= high if closed_high else value < high)):
            raise ValueError(f"a number in ({low:g}, {high:g}{']' if closed_high else ')'})")
        return float(value)

    return check


def _integer(value) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError("a positive integer")
    return value


def _count(value) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError("a whole number, 0 or more")
    return value


def _one_of(*choices) -> Callable:
    def check(value):
        if value not in choices:
            raise ValueError(f"one of {', '.join(map(repr, choices))}")
        return value

    return check


def _text(value) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("a non-empty string")
    return value


def _flag(value) -> bool:
    if not isinstance(value, bool):
        raise ValueError("true or false")
    return value


def _triple(check: Callable) -> Callable:
    def each(value):
        if not isinstance(value, list) or len(value) != 3:
            raise ValueError("a list of 3 values, z, y, x")
        return [check(v) for v in value]

    return each


def _threshold(value):
    if value in ("model", "otsu"):
        return value
    return _number(0.0, 1.0)(value)


def _overlap(value) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < 1:
        return float(value)
    raise ValueError("a fraction in [0, 1)")


def _names(value) -> str:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
        raise ValueError("a list of class names")
    return ",".join(value)  # as --classes takes them


POSITIVE = _number(0.0, math.inf)
ENGINE = {
    "model": _text,
    "tile": _triple(_integer),
    "overlap": _overlap,
    "views": _one_of(*VIEW_COUNTS),
    "device": _text,
    "batch_size": _integer,
}
KEYS: dict[str, dict[str, Callable]] = {
    "segment": {
        **ENGINE,
        "threshold": _threshold,
        "instances": _flag,
        "split_touching": _flag,
        "min_radius": POSITIVE,
    },
    "deblur": {
        **ENGINE,
        "method": _one_of("model", "rl"),
        "psf_sigma": _triple(POSITIVE),
        "iterations": _integer,
        "tv": _number(-1e-12, 1.0),
    },
    "classify": dict(ENGINE),
    "finetune": {
        "model": _text,
        "mode": _one_of(*MODES),
        "classes": _names,
        "classifier": _one_of(*CLASSIFIERS),
        "time_budget": POSITIVE,
        "steps": _integer,
        "adapt": POSITIVE,
        "device": _text,
        "seed": _count,
    },
}


def check_settings(values: Mapping, source: str = "the settings") -> tuple[str, dict]:
    """``(task, options)`` of a settings dict, every value checked, ``classes`` as ``--classes``
    takes them; a :class:`BadInputError` names the key and what it must be."""
    if not isinstance(values, Mapping) or values.get("format") != FORMAT:
        raise BadInputError(f'{source} is not a bright4b settings file (no "format": "{FORMAT}")')
    if values.get("version") != VERSION:
        raise BadInputError(f"{source} has settings version {values.get('version')!r}; this bright4b reads {VERSION}")
    task = values.get("task")
    if task not in KEYS:
        raise BadInputError(f'{source}: "task" must be one of {", ".join(KEYS)}, got {task!r}')
    options = {}
    for key, value in values.items():
        if key in ("format", "version", "task"):
            continue
        if key not in KEYS[task]:
            raise BadInputError(f"{source}: {task} has no setting {key!r}; known: {', '.join(KEYS[task])}")
        try:
            options[key] = KEYS[task][key](value)
        except ValueError as err:
            raise BadInputError(f"{source}: {key!r} must be {err}, got {value!r}") from None
    return task, options


def read_settings(path: str | os.PathLike) -> tuple[str, dict]:
    """:func:`check_settings` of a JSON file."""
    path = Path(path)
    try:
        values = json.loads(path.read_text())
    except OSError as err:
        raise BadInputError(f"settings file {path} cannot be read: {err.strerror or err}") from None
    except ValueError as err:
        raise BadInputError(f"{path.name} is not valid JSON: {err}") from None
    return check_settings(values, path.name)


def settings_of(task: str, options: Mapping) -> dict:
    """The settings file's content for ``task`` from ``options`` (keys it does not know, and
    ``None`` values, are left out)."""
    values = {"format": FORMAT, "version": VERSION, "task": task}
    for key in KEYS[task]:
        value = options.get(key)
        if value is None:
            continue
        if key == "classes" and isinstance(value, str):
            value = [name.strip() for name in value.split(",")]
        values[key] = list(value) if isinstance(value, tuple) else value
    check_settings(values)
    return values


def write_settings(path: str | os.PathLike, task: str, options: Mapping) -> Path:
    """Save :func:`settings_of` as JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(settings_of(task, options), indent=2) + "\n")
    return Path(path)


def provenance(task: str, options: Mapping, model: str | None, source: str | os.PathLike) -> dict:
    """What an output records about the run that made it: the version, task, model, input,
    settings (as :func:`settings_of`) and the time (UTC)."""
    from . import __version__

    return {
        "bright4b": __version__,
        "task": task,
        "model": model,
        "input": os.fspath(source),
        "settings": settings_of(task, options),
        "written": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
