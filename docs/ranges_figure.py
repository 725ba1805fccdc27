"""Draw docs/images/lightsheet-ranges.png: simulated light-sheet volumes across the image
formation ranges of docs/models.md (run by hand, not in tests).

    .venv/bin/python docs/ranges_figure.py

One row per range set (classic, training = randomized minus the held-out corner, the
held-out corner), five volumes each (seeds 9100-9104, stains cycling): the middle x-z
section of the blurred image (z down, 2 um per row), titled with the drawn blur and photons.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from napari_bright4b.data.synthetic.lightsheet_ranges import RANGES  # noqa: E402
from napari_bright4b.training.recipes.lightsheet import DEBLUR_SHAPE, lightsheet_sample  # noqa: E402

OUT = Path(__file__).parent / "images" / "lightsheet-ranges.png"
ROWS = ("classic", "training", "held-out-corner")
SEEDS = range(9100, 9105)


def title(sample) -> str:
    blur = sample.blur
    axial = f"{blur['axial_um']:.1f}" if "axial_um" in blur else f"sheet {blur['waist_um']:.1f}"
    return (
        f"{sample.stain}, {blur['kind']}\nlat {blur['lateral_um']:.1f} / ax {axial} um\n{blur['photons']:.0f} photons"
    )


def main() -> None:
    figure, axes = plt.subplots(len(ROWS), len(SEEDS), figsize=(3.0 * len(SEEDS), 2.9 * len(ROWS)))
    for row, name in zip(axes, ROWS):
        for ax, seed in zip(row, SEEDS):
            sample = lightsheet_sample(seed, DEBLUR_SHAPE, RANGES[name])
            section = sample.image[:, DEBLUR_SHAPE[1] // 2, :]
            ax.imshow(section, cmap="magma", aspect=2.0, vmin=section.min(), vmax=section.max())
            ax.set_title(title(sample), fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
        row[0].set_ylabel(name, fontsize=11)
    figure.tight_layout()
    figure.savefig(OUT, dpi=80)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
