"""Peak memory of whole-volume segmentation with the ``nano`` preset, each run in a fresh process.

    python benchmarks/engine_memory.py --json OUT.json [--threads 2]
    python benchmarks/engine_memory.py --formats [--size-gb 2] --json OUT.json [--threads 2] [--cache DIR]

Default, at two volume sizes: a uint16 input, per-class probabilities (float32) and masks
(uint8), exactly as ``bright4b segment`` computes them. The engine should add only a
bounded working set (one tile batch, the model) on top of those arrays, so the peak should
grow no faster than the arrays (target: growth <= array growth + 10%).

``--formats``: ``bright4b segment`` on one uint16 volume of ``--size-gb`` GiB (1024 x 1024
slices, random intensities, at the preset's voxel size so nothing is resampled), stored
once as a TIFF and once as an OME-Zarr by the project's writers in ``--cache`` (kept for the
next run). Each file is segmented by the command line in its own process (masks and
probabilities to OME-Zarr, threshold 0.5), and that process's peak RSS is read as
``RUSAGE_CHILDREN`` of a fresh wrapper process. Target: the TIFF's peak within 10% of the
OME-Zarr's. A TIFF of up to ``data.tiff.LAZY_BYTES`` (1 GiB) is read whole, a larger one
lazily, page by page; below that size the TIFF is run both ways (``tiff``, ``tiff-lazy``),
so a quick check (``--size-gb 0.2``) also measures the lazy path of a large file.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _common import environment, peak_rss_mb, run_isolated, write_json

SMALL, LARGE = (64, 256, 256), (128, 512, 512)
SLICE = (1024, 1024)  # y, x of the --formats volume
# The command line with every TIFF read lazily, as data.tiff reads one over LAZY_BYTES.
LAZY_TIFF_CLI = (
    "import sys; import napari_bright4b.data.tiff as tiff; tiff.LAZY_BYTES = 0; "
    "from napari_bright4b.cli import main; sys.exit(main())"
)
# Runs a command and prints, as JSON, its exit code, output and peak RSS (KiB on Linux).
PEAK_PROBE = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
print(json.dumps({"returncode": done.returncode, "stdout": done.stdout, "stderr": done.stderr[-4000:],
                  "seconds": time.perf_counter() - start,
                  "peak_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""


def segment_once(shape: tuple[int, int, int], threads: int) -> dict:
    from napari_bright4b.api import load_model
    from napari_bright4b.inference.postprocess import masks
    from napari_bright4b.inference.predict import run_model

    torch.set_num_threads(threads)
    model, card = load_model("nano", quiet=True)
    volume = np.random.default_rng(0).integers(0, 4000, size=(1, *shape), dtype=np.uint16)
    before_gb = peak_rss_mb() / 1024
    start = time.perf_counter()
    probabilities = run_model(model, card, volume)
    found, _ = masks(probabilities, "otsu")
    seconds = time.perf_counter() - start
    arrays_gb = (volume.nbytes + probabilities.nbytes + found.nbytes) / 2**30
    return {"peak_gb": peak_rss_mb() / 1024, "baseline_gb": before_gb, "arrays_gb": arrays_gb, "seconds": seconds}


def compare_sizes(args: argparse.Namespace) -> None:
    """The default measurement: peak growth from SMALL to LARGE against array growth."""
    small = run_isolated(segment_once, SMALL, args.threads)
    large = run_isolated(segment_once, LARGE, args.threads)
    peak_growth, array_growth = large["peak_gb"] - small["peak_gb"], large["arrays_gb"] - small["arrays_gb"]
    write_json(
        args.json,
        {
            "small_peak_gb": round(small["peak_gb"], 3),
            "large_peak_gb": round(large["peak_gb"], 3),
            "large_arrays_gb": round(large["arrays_gb"], 3),
            "small_arrays_gb": round(small["arrays_gb"], 3),
            "peak_growth_gb": round(peak_growth, 3),
            "array_growth_gb": round(array_growth, 3),
            "within_target": peak_growth <= 1.1 * array_growth,
            "seconds": {"small": round(small["seconds"], 1), "large": round(large["seconds"], 1)},
            "shapes": {"small": list(SMALL), "large": list(LARGE)},
            "environment": environment(args.threads),
        },
    )


def write_volumes(folder: str, shape: tuple[int, int, int]) -> dict[str, str]:
    """A random uint16 volume ``shape (Z, Y, X)`` as ``volume-ZxYxX.tif`` and ``.zarr`` in
    ``folder`` at the nano preset's voxel size (files already there are kept); their paths."""
    from napari_bright4b.data.ome_zarr import write_ome_zarr
    from napari_bright4b.data.tiff import write_tiff
    from napari_bright4b.models.card import ModelCard

    stem = Path(folder) / f"volume-{'x'.join(map(str, shape))}"
    paths = {"tiff": stem.with_suffix(".tif"), "ome-zarr": stem.with_suffix(".zarr")}
    if all(path.exists() for path in paths.values()):
        return {kind: str(path) for kind, path in paths.items()}
    Path(folder).mkdir(parents=True, exist_ok=True)
    volume = np.random.default_rng(0).integers(0, 4000, size=shape, dtype=np.uint16)
    voxel_size = ModelCard.voxel_size  # a preset's card keeps the default
    write_tiff(paths["tiff"], volume, voxel_size)
    write_ome_zarr(paths["ome-zarr"], volume, voxel_size)
    return {kind: str(path) for kind, path in paths.items()}


def segment_file(path: str, scratch: str, threads: int, lazy_tiff: bool = False) -> dict:
    """``bright4b segment`` of ``path`` with the nano preset in a fresh process: its peak RSS
    (GiB), wall seconds and the command's own timings; ``lazy_tiff`` reads a TIFF of any size
    lazily, as the command reads one over ``LAZY_BYTES``."""
    out = Path(scratch) / Path(path).name
    command = [sys.executable, "-c", LAZY_TIFF_CLI] if lazy_tiff else [sys.executable, "-m", "napari_bright4b.cli"]
    command += ["segment", path, "-m", "nano", "-o", f"{out}.masks.zarr", "--prob", f"{out}.prob.zarr"]
    command += ["--threshold", "0.5", "--json"]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    probe = subprocess.run([sys.executable, "-c", PEAK_PROBE, *command], capture_output=True, text=True, env=env)
    if probe.returncode:
        raise SystemExit(f"the peak probe failed:\n{probe.stderr}")
    run = json.loads(probe.stdout.splitlines()[-1])
    if run["returncode"]:
        raise SystemExit(f"bright4b segment {path} failed (exit {run['returncode']}):\n{run['stderr']}")
    summary = json.loads(run["stdout"])
    return {"peak_gb": run["peak_kib"] / 2**20, "seconds": run["seconds"], "command_seconds": summary["seconds"]}


def compare_formats(args: argparse.Namespace) -> None:
    """The TIFF against the OME-Zarr of one volume of ``args.size_gb`` GiB: table and JSON.
    A TIFF small enough to be read whole is also run read lazily (``tiff-lazy``), so that a
    quick check at a small size measures the path a large file takes."""
    from napari_bright4b.data.tiff import LAZY_BYTES

    shape = (max(1, round(args.size_gb * 2**30 / (2 * SLICE[0] * SLICE[1]))), *SLICE)
    nbytes = 2 * int(np.prod(shape))
    paths = run_isolated(write_volumes, args.cache, shape)
    cases = {"tiff": (paths["tiff"], False), "ome-zarr": (paths["ome-zarr"], False)}
    if nbytes <= LAZY_BYTES:
        cases["tiff-lazy"] = (paths["tiff"], True)
    runs = {}
    for kind, (path, lazy) in cases.items():
        with tempfile.TemporaryDirectory(dir=args.cache) as scratch:
            runs[kind] = segment_file(path, scratch, args.threads, lazy)
        runs[kind]["read"] = "whole" if kind == "tiff" and nbytes <= LAZY_BYTES else "lazy"
    zarr_peak = runs["ome-zarr"]["peak_gb"]
    print(f"{'input':<11}{'read':>6}{'peak RSS GiB':>14}{'/ OME-Zarr':>12}{'seconds':>9}")
    for kind, run in runs.items():
        run["over_zarr"] = round(run["peak_gb"] / zarr_peak, 3)
        print(f"{kind:<11}{run['read']:>6}{run['peak_gb']:>14.3f}{run['over_zarr']:>12.3f}{run['seconds']:>9.0f}")
    lazy = runs.get("tiff-lazy", runs["tiff"])
    print(f"shape {shape} uint16 ({nbytes / 2**30:.2f} GiB); target: a lazily read TIFF's peak <= 1.10 x OME-Zarr's")
    payload = {
        "command": "bright4b segment IN -m nano -o MASKS.zarr --prob PROB.zarr --threshold 0.5 --json",
        "shape": list(shape),
        "input_gib": round(nbytes / 2**30, 3),
        "lazy_tiff_bytes": LAZY_BYTES,
        "runs": {kind: {**run, "peak_gb": round(run["peak_gb"], 3)} for kind, run in runs.items()},
        "within_target": lazy["over_zarr"] <= 1.1,
        "environment": environment(args.threads),
    }
    write_json(args.json, payload)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--formats", action="store_true", help="compare a TIFF with an OME-Zarr of the same volume")
    parser.add_argument("--size-gb", type=float, default=2.0, help="--formats: the volume's size in GiB (2)")
    parser.add_argument(
        "--cache",
        default=os.path.join(tempfile.gettempdir(), "bright4b-engine-memory"),
        help="--formats: where the volumes are written and kept (a folder in the system's temp)",
    )
    args = parser.parse_args()
    (compare_formats if args.formats else compare_sizes)(args)


if __name__ == "__main__":
    main()
