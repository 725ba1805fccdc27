"""Why the deep fine-tune loses off its home domain: one suspect changed at a time.

    OMP_NUM_THREADS=2 python benchmarks/fewshot_diagnose.py --json OUT.json [--budget 60] [--cases ...]

On the cases of :mod:`fewshot_external` (same strokes), the default fine-tune and variants
that each change one thing: no prior correction (``no_prior``), no held-out strokes so the
best state is chosen on the training strokes (``keep_last``), the head alone (``head``),
a ten-times higher learning rate (``lr_2e-3``), and the fixes tried: the instant classifier's
sure voxels as extra labels (``teacher``) and 30 s of test-time adaptation on the whole
image before the strokes' budget, at its default rate and at the fine-tune's
(``adapt_30``, ``adapt_30_2e-4``; :mod:`napari_bright4b.training.finetune.image_adaptation`),
and at the fine-tune's rate with an EMA teacher holding the token states near the base's
(``adapt_30_ema``).
Reports Dice per class, steps, the step kept and steps per second.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch
from _common import environment, write_json
from external_data import external_volumes, shifted_simulations
from fewshot_external import BASE, deep

from napari_bright4b.training.finetune import FinetuneSettings
from napari_bright4b.training.finetune.strokes import paint_strokes

VARIANTS = {
    "default": {},
    "no_prior": {"prior_correction": False},
    "keep_last": {"held_out_share": 0.0},
    "head": {"mode": "head"},
    "lr_2e-3": {"learning_rate": 2e-3},
    "teacher": {"teacher": True},
    "adapt_30": {"adapt_s": 30.0},
    "adapt_30_2e-4": {"adapt_s": 30.0, "adapt_learning_rate": 2e-4},
    "adapt_30_ema": {"adapt_s": 30.0, "adapt_learning_rate": 2e-4, "adapt_ema_teacher": True},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--budget", type=float, default=60.0)
    parser.add_argument("--cases", nargs="*", default=["cho-02-t00", "sim-low-na-low-light"])
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    volumes = [v for v in external_volumes() + shifted_simulations() if v.name in args.cases]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for volume in volumes:
            labels = paint_strokes(volume.truth, np.random.default_rng(0))
            for variant in args.variants:
                settings = FinetuneSettings(time_budget_s=args.budget, **VARIANTS[variant])
                out = Path(folder) / f"{volume.name}-{variant}.safetensors"
                scores, result = deep(volume, labels, settings, out)
                train_s = result.card.provenance["train_seconds"]
                row = {
                    "case": volume.name,
                    "variant": variant,
                    "dice": scores,
                    "steps": result.steps,
                    "best_step": result.best_step,
                    "steps_per_s": round(result.steps / max(train_s, 1e-9), 2),
                    "image_adaptation": result.card.provenance.get("image_adaptation"),
                }
                rows.append(row)
                print(row)
    write_json(
        args.json, {"base": BASE, "budget_s": args.budget, "rows": rows, "environment": environment(args.threads)}
    )


if __name__ == "__main__":
    main()
