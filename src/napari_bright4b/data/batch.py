"""Runs over many images: which files, what each output is called, and the results table.

Shared by ``bright4b segment|deblur|classify`` with several inputs and the dock's
**Run on folder...**: inputs are files, folders (their TIFF, OME-Zarr and NIfTI images, not
recursive) and glob patterns; one output per input is named from the input; a file that
fails is reported and the run goes on; ``results.csv`` lists every file, ok or failed.
"""

from __future__ import annotations

import csv
import glob
import io
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import BadInputError, OutOfMemory
from ..files import atomic_path
from .io import BIOIO_SUFFIXES
from .nifti import SUFFIXES as NIFTI_SUFFIXES
from .ome_zarr import is_zarr
from .tiff import SUFFIXES as TIFF_SUFFIXES

IMAGE_SUFFIXES = (*TIFF_SUFFIXES, ".zarr", *NIFTI_SUFFIXES, *BIOIO_SUFFIXES)
RESULTS = "results.csv"


def _is_image(path: Path) -> bool:
    return not path.name.startswith(".") and (path.name.lower().endswith(IMAGE_SUFFIXES) or is_zarr(path))


def is_many(patterns: Sequence[str | os.PathLike]) -> bool:
    """Whether ``patterns`` name a batch: several inputs, a folder (not a zarr) or a glob."""
    return len(patterns) > 1 or any(
        glob.has_magic(os.fspath(p)) or (Path(p).is_dir() and not is_zarr(p)) for p in patterns
    )


def expand(patterns: Sequence[str | os.PathLike]) -> list[Path]:
    """The image files that ``patterns`` name, in order, each once: a file as it is, a
    folder's images sorted by name, a glob's matches sorted."""
    files: list[Path] = []
    for pattern in map(os.fspath, patterns):
        path = Path(pattern)
        if path.is_dir() and not is_zarr(path):
            files += sorted(child for child in path.iterdir() if _is_image(child))
        elif glob.has_magic(pattern):
            files += sorted(Path(match) for match in glob.glob(pattern) if _is_image(Path(match)))
        else:
            files.append(path)
    unique = list(dict.fromkeys(files))
    if not unique:
        raise BadInputError(
            f"no images in {', '.join(map(os.fspath, patterns))}; give TIFF or OME-Zarr files, folders or globs"
        )
    return unique


NAME_SUFFIXES = (".ome.tiff", ".ome.tif", ".ome.zarr", ".nii.gz", *IMAGE_SUFFIXES)  # longest first


def stem(path: str | os.PathLike) -> str:
    """The name an input gives its outputs: ``cells.ome.tif`` -> ``cells``, ``exp.1.tif`` -> ``exp.1``."""
    name = Path(path).name
    suffix = next((s for s in NAME_SUFFIXES if name.lower().endswith(s)), Path(name).suffix)
    return name[: len(name) - len(suffix)] if suffix else name


def output_path(folder: Path, source: Path, kind: str, suffix: str | None = None) -> Path:
    """``folder/<input stem>_<kind><suffix>``; the suffix follows the input (``.zarr`` for a
    zarr, else ``.tif``) unless given."""
    suffix = suffix or (".zarr" if is_zarr(source) else ".tif")
    return folder / f"{stem(source)}_{kind}{suffix}"


def check_distinct(files: Sequence[Path]) -> None:
    """Refuse two inputs that would write the same outputs (same name in two folders)."""
    seen: dict[str, Path] = {}
    for path in files:
        other = seen.setdefault(stem(path), path)
        if other != path:
            raise BadInputError(f"{other} and {path} would write the same outputs ({stem(path)}_...); rename one")


def figure_columns(
    fractions: dict[str, float] | None = None, objects: dict[str, int] | None = None, prediction: str | None = None
) -> dict[str, object]:
    """The per-file figures worth a column of the results table: foreground share and object
    count per structure, or the predicted class."""
    values: dict[str, object] = {} if prediction is None else {"prediction": prediction}
    values.update({f"{name} fraction": round(share, 6) for name, share in (fractions or {}).items()})
    values.update({f"{name} objects": count for name, count in (objects or {}).items()})
    return values


@dataclass
class FileResult:
    """One input's outcome: ``error`` (one line) if it failed, else its ``outputs`` and
    ``values`` (e.g. the predicted class), with its ``seconds``."""

    input: str
    error: str | None = None
    outputs: dict[str, str] = field(default_factory=dict)
    values: dict[str, object] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


def each_file(files: Sequence[Path], run_one: Callable[[Path], FileResult]) -> Iterator[FileResult]:
    """``run_one`` on each file in turn, yielding each outcome as it comes; bad input or
    memory failures become a failed :class:`FileResult` and the run goes on (a cancel or an
    interrupt stops it)."""
    for path in files:
        try:
            yield run_one(path)
        except (BadInputError, OutOfMemory) as err:
            yield FileResult(str(path), error=str(err).replace("\n", " "))


def write_results(path: str | os.PathLike, results: Sequence[FileResult]) -> Path:
    """The results table, atomically: one row per input, with its status, error, outputs,
    seconds and values."""
    keys = list(dict.fromkeys(k for r in results for k in r.values))
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["input", "status", "error", "outputs", "seconds", *keys])
    for r in results:
        outputs = ";".join(r.outputs.values())
        row = [r.input, "ok" if r.ok else "failed", r.error or "", outputs, f"{r.seconds:.2f}"]
        writer.writerow(row + [r.values.get(k, "") for k in keys])
    with atomic_path(path) as tmp:
        tmp.write_text(text.getvalue())
    return Path(path)
