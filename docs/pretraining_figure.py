"""Draw docs/images/pretraining-held-out.png: the masked-reconstruction loss of a pretraining
run on volumes it never trained on, beside its training loss, from the JSON that
``benchmarks/pretraining.py`` writes (run by hand, not in tests).

    .venv/bin/python docs/pretraining_figure.py bench-results/pretraining-900s-v2.json

The training loss is every step's, averaged over windows of 100 steps; the held-out loss
is measured every 100 steps on 32 fixed masked patches of the three scored CHO time points.
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
    axes.set(xscale="log", yscale="log", xlabel="step", ylabel="loss")
    axes.set_title(f"nano, {', '.join(run['objectives'])}: {run['steps']} steps in {run['seconds']:.0f} s", fontsize=9)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(IMAGE)
    print(IMAGE)


if __name__ == "__main__":
    main(sys.argv[1])
