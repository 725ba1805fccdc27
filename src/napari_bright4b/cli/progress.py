"""What a run shows: a terminal progress bar for tile-by-tile work (on stderr, off with
``--json`` or no terminal), its timings and its summary."""

from __future__ import annotations

import json
import sys


class TileProgress:
    """``progress(done, total)`` callback drawing a tqdm bar; use as a context manager."""

    def __init__(self, description: str, enabled: bool):
        self.description, self.enabled, self.bar = description, enabled and sys.stderr.isatty(), None

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=self.description, unit="tile", file=sys.stderr, leave=False)
        self.bar.update(done - self.bar.n)

    def __enter__(self) -> TileProgress:
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.close()


def timings(started: float, loaded: float, finished: float, voxels: int) -> dict:
    """``seconds`` (load, run, total) and ``voxels_per_s`` of a run, from ``perf_counter`` stamps."""
    return {
        "seconds": {
            "load": round(loaded - started, 3),
            "run": round(finished - loaded, 3),
            "total": round(finished - started, 3),
        },
        "voxels_per_s": round(voxels / max(finished - loaded, 1e-9)),
    }


def report(args, summary: dict) -> None:
    """Print a run's summary: JSON with ``--json``, else a few lines."""
    if args.json:
        print(json.dumps(summary, indent=2))
        return
    print(f"{summary['command']}: {summary['input']['path']} with {summary['model']} on {summary['device']}")
    for key in ("prediction", "probabilities", "thresholds", "foreground_fraction", "instances", "psf"):
        if key in summary:
            print(f"  {key:20s} {summary[key]}")
    for kind, path in summary.get("outputs", {}).items():
        print(f"  wrote {kind:14s} {path}")
    seconds = summary["seconds"]
    print(f"  {seconds['total']:.1f} s ({seconds['run']:.1f} s running, {summary['voxels_per_s']:,} voxels/s)")
