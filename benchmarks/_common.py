"""Helpers shared by the benchmark scripts: isolated runs, peak memory, JSON output."""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import resource
from pathlib import Path

import torch


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def run_isolated(fn, *args):
    """Run ``fn(*args)`` in a fresh process so that its peak RSS is its own."""
    ctx = mp.get_context("spawn")
    with ctx.Pool(1) as pool:
        return pool.apply(fn, args)


def environment(threads: int) -> dict:
    return {
        "torch": torch.__version__,
        "threads": threads,
        "cpu": platform.processor() or platform.machine(),
        "cpus_available": os.cpu_count(),
    }


def write_json(path: str | None, payload: dict) -> None:
    text = json.dumps(payload, indent=2)
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text + "\n")
    print(text)


def model_comparison_args(doc: str, default_model: str, more=None) -> argparse.Namespace:
    """The command line of a benchmark that compares models: ``--model`` (one or more names or
    paths), ``--json`` and ``--threads`` (torch's thread count is set); ``more(parser)`` adds
    the benchmark's own options."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    if more is not None:
        more(parser)
    parser.add_argument("--model", nargs="+", default=[default_model], help="models to compare")
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    return args
