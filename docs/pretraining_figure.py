"""Draw docs/images/pretraining-held-out.png: the masked-reconstruction loss of a pretraining
run on volumes it never trained on, beside its training loss, from the JSON that
``benchmarks/pretraining.py`` writes (run by hand, not in tests).

    .venv/bin/python docs/pretraining_figure.py bench-results/pretraining-900s-v3.json

The training loss is every step's, averaged over windows of 100 steps; the held-out loss
is measured every 100 steps on 32 fixed masked patches of the three scored CHO time points,
and drawn with its means over windows of 500 steps. Step 0 is drawn at 1.
Both axes are logarithmic.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

IMAGE = Path(__file__).parent / "images" / "pretraining-held-out.png"
WINDOW = 100
HELD_OUT_WINDOW = 500


def main(path: str) -> None:
    run = json.loads(Path(path).read_text())["pretraining"]
    held = np.array(run["held_out"])
    figure, axes = plt.subplots(figsize=(6.4, 3.6), dpi=120)
    if "losses" in run:
        losses = np.array(run["losses"])
        windows = len(losses) // WINDOW
        means = losses[: windows * WINDOW, 1].reshape(windows, WINDOW).mean(1)
        axes.plot((np.arange(windows) + 1) * WINDOW, means, color="0.6", label="training loss (all objectives)")
    axes.plot(np.maximum(held[:, 0], 1), held[:, 1], "o-", markersize=3, label="held-out masked reconstruction")
    later = held[held[:, 0] > 0]
    spans = np.arange(len(later)) // (HELD_OUT_WINDOW // 100)  # points are 100 steps apart
    steps = [later[spans == k, 0].mean() for k in np.unique(spans)]
    means = [later[spans == k, 1].mean() for k in np.unique(spans)]
    axes.plot(steps, means, "s-", color="black", markersize=4, label=f"held-out, mean per {HELD_OUT_WINDOW} steps")
    axes.set(xscale="log", yscale="log", xlabel="step", ylabel="loss")
    axes.set_title(f"nano, {', '.join(run['objectives'])}: {run['steps']} steps in {run['seconds']:.0f} s", fontsize=9)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(IMAGE)
    print(IMAGE)


if __name__ == "__main__":
    main(sys.argv[1])
