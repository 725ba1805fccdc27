"""``bright4b segment|deblur|classify`` over several inputs, folders or globs.

Each input's outputs go into the folder that ``-o`` (``--prob``, ``--map``) names, called
after the input (``cells.tif`` -> ``cells_masks.tif``); the model is loaded once; a file
that fails gets one line on stderr and the run goes on; ``results.csv`` in the output
folder lists every input. Exit status 0 when every input succeeded, 1 when any failed.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from contextlib import nullcontext
from dataclasses import asdict
from pathlib import Path

from ..data.batch import (
    RESULTS,
    FileResult,
    check_distinct,
    each_file,
    expand,
    figure_columns,
    is_many,
    output_path,
    write_results,
)
from ..errors import BadInputError

__all__ = ["is_many", "run"]

FOLDER_OPTIONS = {"output": "-o", "prob": "--prob", "map": "--map"}


def _kinds(args: argparse.Namespace) -> dict[str, str]:
    """What each output option holds, as it names the per-input files."""
    instances = getattr(args, "instances", False) or getattr(args, "split_touching", False)
    main = {"segment": "instances" if instances else "masks", "deblur": "deblurred"}
    return {"output": main.get(args.task, ""), "prob": "probabilities", "map": "classes"}


def _folders(args: argparse.Namespace) -> dict[str, Path]:
    """The output folders given, checked and created."""
    folders = {}
    for key, flag in FOLDER_OPTIONS.items():
        if getattr(args, key, None):
            folder = Path(getattr(args, key))
            if folder.suffix.lower() in (".tif", ".tiff") or (folder.exists() and not folder.is_dir()):
                raise BadInputError(f"with several inputs, {flag} names a folder for their outputs, got {folder}")
            folders[key] = folder
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    return folders


def run(args: argparse.Namespace, run_file, open_session) -> int:
    """Run ``run_file(args_for_one_input, started, session)`` over every input of ``args``;
    ``open_session(args)`` loads the model once (``None``: nothing to load)."""
    files = expand(args.image)
    check_distinct(files)
    folders, kinds = _folders(args), _kinds(args)
    suffix = ".zarr" if getattr(args, "dask", False) else None

    def one(path: Path) -> FileResult:
        single = copy.copy(args)
        single.image = str(path)
        for key, folder in folders.items():
            setattr(single, key, str(output_path(folder, path, kinds[key], suffix)))
        summary = run_file(single, time.perf_counter(), session)
        outputs = summary.get("outputs", {})
        return FileResult(
            str(path),
            outputs=outputs,
            values=figure_columns(
                summary.get("foreground_fraction"), summary.get("instances"), summary.get("prediction")
            ),
            seconds=summary["seconds"]["total"],
        )

    def done(n: int, result: FileResult) -> None:
        if not result.ok:
            name = Path(result.input).name
            where = "" if result.error.startswith(name) else f"{name}: "
            print(f"bright4b: error: {where}{result.error}", file=sys.stderr)
        elif not args.json:
            written = ", ".join(result.outputs.values()) or ", ".join(f"{k} {v}" for k, v in result.values.items())
            print(f"[{n + 1}/{len(files)}] {result.input} -> {written} ({result.seconds:.1f} s)")

    session = open_session(args) if open_session is not None else None
    with session if session is not None else nullcontext():
        results = []
        for result in each_file(files, one):
            done(len(results), result)
            results.append(result)
    table = next(iter(folders.values()), None)
    if table is not None:
        write_results(table / RESULTS, results)
    failed = sum(not r.ok for r in results)
    if args.json:
        print(json.dumps({"command": args.task, "files": [asdict(r) for r in results], "failed": failed}, indent=2))
    else:
        where = f"; {table / RESULTS}" if table is not None else ""
        print(f"{len(results)} inputs: {len(results) - failed} done, {failed} failed{where}")
    return 1 if failed else 0
