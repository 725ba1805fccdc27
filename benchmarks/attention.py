"""NSA-3D vs dense SDPA: forward time and peak memory on 3D token lattices.

    python benchmarks/attention.py --json OUT.json [--threads 2] [--tokens 1024 4096 ...]

The attention of the ``full-4b`` preset (h=512, 8 heads, 2 kv heads, head_dim 64,
bricks of 2x4x4 tokens, kappa=4, a window of the brick and its 8 in-plane neighbours) runs in ``nsa`` and ``dense``
mode under ``no_grad``. Each measurement runs in its own process; peak memory is the
rise of peak RSS over the RSS with inputs and weights in place.

Shared machines stall at random (a 2048^2 matmul here took 0.06 s or 0.85 s from one
call to the next), so each figure is the best of ``--repeats`` runs (the cost on an
unloaded machine, as ``timeit`` reports it); the median is recorded too.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from _common import current_rss_mb, environment, peak_rss_mb, run_isolated, write_json

LATTICES = {1024: (16, 8, 8), 4096: (16, 16, 16), 8192: (32, 16, 16), 16384: (16, 32, 32), 32768: (32, 32, 32)}


def measure(mode: str, lattice_shape: tuple[int, int, int], threads: int, repeats: int) -> dict:
    from napari_bright4b.models.presets import PRESETS
    from napari_bright4b.nn.sparse_attention import NativeSparseAttention3D
    from napari_bright4b.nn.token_lattice import BlockLattice

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    c = PRESETS["full-4b"].config
    lattice = BlockLattice(lattice_shape, c.brick)
    attention = NativeSparseAttention3D(
        c.dim, c.heads, c.kv_heads, c.head_dim, c.block_size, c.kappa, c.window_radius, c.compress_hidden, mode=mode
    ).eval()
    n = lattice_shape[0] * lattice_shape[1] * lattice_shape[2]
    x = torch.randn(1, n, 512)
    times = []
    with torch.no_grad():
        attention(x, lattice)  # warm-up
        base = current_rss_mb()
        for _ in range(repeats):
            start = time.perf_counter()
            attention(x, lattice)
            times.append(time.perf_counter() - start)
    return {"seconds": min(times), "median_s": statistics.median(times), "peak_mb": max(0.0, peak_rss_mb() - base)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tokens", type=int, nargs="+", default=[1024, 4096, 8192, 16384, 32768])
    parser.add_argument("--repeats", type=int, default=5, help="runs per point (3 at most above 8192 tokens)")
    args = parser.parse_args()
    results = []
    print(f"{'tokens':>7} {'dense s':>9} {'nsa s':>9} {'speed-up':>9} {'dense MB':>9} {'nsa MB':>9}")
    for tokens in args.tokens:
        shape = LATTICES[tokens]
        repeats = args.repeats if tokens <= 8192 else min(args.repeats, 3)
        dense = run_isolated(measure, "dense", shape, args.threads, repeats)
        nsa = run_isolated(measure, "nsa", shape, args.threads, repeats)
        row = {
            "tokens": tokens,
            "lattice": list(shape),
            "dense_s": dense["seconds"],
            "nsa_s": nsa["seconds"],
            "speedup": dense["seconds"] / nsa["seconds"],
            "dense_median_s": dense["median_s"],
            "nsa_median_s": nsa["median_s"],
            "dense_peak_mb": dense["peak_mb"],
            "nsa_peak_mb": nsa["peak_mb"],
        }
        results.append(row)
        print(
            f"{tokens:>7} {row['dense_s']:>9.3f} {row['nsa_s']:>9.3f} {row['speedup']:>8.1f}x "
            f"{row['dense_peak_mb']:>9.1f} {row['nsa_peak_mb']:>9.1f}",
            flush=True,
        )
    write_json(args.json, {"benchmark": "attention", "environment": environment(args.threads), "results": results})


if __name__ == "__main__":
    main()
