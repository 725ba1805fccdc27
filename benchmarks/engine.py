"""Throughput of the tiling engine: the ``small`` preset vs MONAI UNETR, same tiles, same volume.

    python benchmarks/engine.py --json OUT.json [--threads 2] [--shape 64 256 256] [--repeats 1]

Both models run through :func:`predict_tiled` with 32x128x128 tiles and 0.25 overlap on
a random volume; UNETR is MONAI's (feature size 16, hidden size 768, 12 layers, 16^3
patches, the UNETR paper's configuration). Our models send every ``Conv3d`` to oneDNN
(``nn/cpu_convolution.py``); UNETR is measured both as MONAI ships it and with the same
routing, so the comparison does not rest on that alone. Reports voxels per second (best
of ``--repeats``) and parameter counts.
"""

from __future__ import annotations

import argparse
import copy
import time

import numpy as np
import torch
from _common import environment, write_json

TILE = (32, 128, 128)


def throughput(predict, volume: np.ndarray, repeats: int) -> tuple[float, int]:
    from napari_bright4b.inference.engine import predict_tiled
    from napari_bright4b.inference.tiling import TileGrid

    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        predict_tiled(predict, volume, 1, TILE, 0.25, batch_size=1)
        best = min(best, time.perf_counter() - start)
    return volume[0].size / best, len(TileGrid(volume.shape[1:], TILE, 0.25))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--shape", type=int, nargs=3, default=[64, 256, 256], metavar=("Z", "Y", "X"))
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()

    from monai.networks.nets import UNETR

    from napari_bright4b.models.bright4b import Bright4B
    from napari_bright4b.models.heads import activate
    from napari_bright4b.models.presets import PRESETS
    from napari_bright4b.nn.cpu_convolution import use_onednn_convolutions

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    volume = np.random.default_rng(0).normal(size=(1, *args.shape)).astype(np.float32)
    preset = PRESETS["small"]
    ours = Bright4B(preset.config, preset.head).eval()
    unetr = UNETR(1, 1, TILE, feature_size=16, hidden_size=768, mlp_dim=3072, num_heads=12, norm_name="instance")
    unetr.eval()
    unetr_onednn = use_onednn_convolutions(copy.deepcopy(unetr))

    def run_ours(batch):
        return activate(ours.head_config, ours(batch))

    ours_vps, tiles = throughput(run_ours, volume, args.repeats)
    unetr_vps, _ = throughput(lambda batch: torch.sigmoid(unetr(batch)), volume, args.repeats)
    unetr_onednn_vps, _ = throughput(lambda batch: torch.sigmoid(unetr_onednn(batch)), volume, args.repeats)
    write_json(
        args.json,
        {
            "ours_voxels_per_s": round(ours_vps),
            "unetr_voxels_per_s": round(unetr_vps),
            "unetr_onednn_voxels_per_s": round(unetr_onednn_vps),
            "ours_params": sum(p.numel() for p in ours.parameters()),
            "unetr_params": sum(p.numel() for p in unetr.parameters()),
            "volume": args.shape,
            "tile": list(TILE),
            "tiles": tiles,
            "repeats": args.repeats,
            "environment": environment(args.threads),
        },
    )


if __name__ == "__main__":
    main()
