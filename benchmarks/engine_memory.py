"""Peak memory of whole-volume segmentation with the ``nano`` preset at two volume sizes.

    python benchmarks/engine_memory.py --json OUT.json [--threads 2]

Each size runs in a fresh process: a uint16 input, per-class probabilities (float32) and
masks (uint8), exactly as ``bright4b segment`` computes them. The engine should add only
a bounded working set (one tile batch, the model) on top of those arrays, so the peak
should grow no faster than the arrays (target: growth <= array growth + 10%).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from _common import environment, peak_rss_mb, run_isolated, write_json

SMALL, LARGE = (64, 256, 256), (128, 512, 512)


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
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


if __name__ == "__main__":
    main()
