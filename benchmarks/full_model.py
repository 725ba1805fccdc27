"""The ``full-4b`` preset in bfloat16 on the CPU: one 32x128x128 patch forward.

    python benchmarks/full_model.py --json OUT.json [--threads 2] [--shape 32 128 128]

The model is built directly in bfloat16 (torch's default dtype is switched while the
modules are created), so no float32 copy of the ~3.7B weights ever exists. Reports the
parameter count, the build and forward times and the peak resident memory of the process.
"""

from __future__ import annotations

import argparse
import time

import torch
from _common import environment, peak_rss_mb, write_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--preset", default="full-4b")
    parser.add_argument("--shape", type=int, nargs=3, default=[32, 128, 128], metavar=("Z", "Y", "X"))
    args = parser.parse_args()

    from napari_bright4b.models.card import ModelCard
    from napari_bright4b.models.checkpoint import build_model
    from napari_bright4b.models.presets import PRESETS

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    preset = PRESETS[args.preset]
    card = ModelCard(name=args.preset, config=preset.config, head=preset.head)
    start = time.perf_counter()
    model = build_model(card, "cpu", torch.bfloat16).eval()
    build_s = time.perf_counter() - start
    params = sum(p.numel() for p in model.parameters())
    dtypes = sorted({str(p.dtype) for p in model.parameters()})
    after_build_gb = peak_rss_mb() / 1024
    x = torch.randn(1, preset.config.in_channels, *args.shape, dtype=torch.bfloat16)
    with torch.no_grad():
        start = time.perf_counter()
        logits = model(x)
        seconds = time.perf_counter() - start
    result = {
        "benchmark": "full_model",
        "preset": args.preset,
        "environment": environment(args.threads),
        "params": params,
        "param_dtypes": dtypes,
        "input_shape": list(args.shape),
        "output_shape": list(logits.shape),
        "output_finite": bool(torch.isfinite(logits).all()),
        "build_s": build_s,
        "seconds": seconds,
        "peak_rss_after_build_gb": after_build_gb,
        "peak_rss_gb": peak_rss_mb() / 1024,
    }
    print(f"{args.preset}: {params / 1e9:.2f}B params, forward {seconds:.1f}s, peak RSS {result['peak_rss_gb']:.2f} GB")
    write_json(args.json, result)


if __name__ == "__main__":
    main()
