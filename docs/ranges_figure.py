"""Draw docs/images/lightsheet-ranges.png and brightfield-ranges.png: simulated volumes
across the ranges of docs/models.md (run by hand, not in tests).

    .venv/bin/python docs/ranges_figure.py

Light sheet: one row per range set (classic, training = randomized minus the held-out
corner, the held-out corner, the held-out widefield PSF), five volumes each (seeds 9100-9104, stains cycling): the
middle x-z section of the blurred image (z down, 2 um per row), titled with the drawn blur
and photons. Brightfield: one row per condition (classic, training = randomized minus the
held-out low NA, the held-out low NA, and the regions held out by contrast: DIC-like and
phase-contrast-like), five colonies each (seeds 9000-9004): the middle z-slice, titled
with NA, voxel size, photons and cell spacing (and the contrast's parameters).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from napari_bright4b.data.synthetic.lightsheet_ranges import RANGES  # noqa: E402
from napari_bright4b.training.recipes import organelles  # noqa: E402
from napari_bright4b.training.recipes.lightsheet import DEBLUR_SHAPE, lightsheet_sample  # noqa: E402

IMAGES = Path(__file__).parent / "images"
ROWS = ("classic", "training", "held-out-corner", "held-out-widefield")
SEEDS = range(9100, 9105)


def title(sample) -> str:
    blur = sample.blur
    if "cone_slope" in blur:
        shape = f"lat {blur['lateral_um']:.1f} um, cone {blur['cone_slope']:.2f} over ±{blur['defocus_um']:.0f} um"
    else:
        axial = f"{blur['axial_um']:.1f}" if "axial_um" in blur else f"sheet {blur['waist_um']:.1f}"
        shape = f"lat {blur['lateral_um']:.1f} / ax {axial} um"
    return f"{sample.stain}, {blur['kind']}\n{shape}\n{blur['photons']:.0f} photons"


def lightsheet_figure() -> None:
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
    save(figure, "lightsheet-ranges.png")


def brightfield_figure() -> None:
    seeds, rows = range(9000, 9005), (*organelles.CONDITIONS, *organelles.CONTRAST_CONDITIONS)
    figure, axes = plt.subplots(len(rows), len(seeds), figsize=(3.0 * len(seeds), 3.5 * len(rows)))
    for row, name in zip(axes, rows):
        for ax, seed in zip(row, seeds):
            sample = organelles.colony(seed, name)
            plane = sample.image[sample.image.shape[0] // 2]
            ax.imshow(plane, cmap="gray", vmin=plane.min(), vmax=plane.max())
            o, (vz, vy, _) = sample.optics, sample.voxel_size
            spacing = sample.colony.parameters["cell_spacing_um"]
            ax.set_title(
                f"NA {o['na']:.2f}, {o['photons']:.0f} photons\n{vz:.2f} x {vy:.3f} um, cells {spacing:.0f} um apart"
                + contrast(o),
                fontsize=8,
            )
            ax.set_xticks([])
            ax.set_yticks([])
        row[0].set_ylabel(name, fontsize=11)
    save(figure, "brightfield-ranges.png")


def contrast(optics: dict) -> str:
    """The contrast mode's line of a title ("" for plain brightfield)."""
    mode, sign = optics["contrast"], "+" if optics["polarity"] > 0 else "-"
    if mode == "dic":
        return f"\nDIC {sign}, shear {optics['shear_um']:.2f} um, {optics['bit_depth']} bit"
    if mode == "phase":
        return f"\nphase {sign}, ring {optics['ring_cutoff_per_um']:.2f}/um, {optics['bit_depth']} bit"
    return ""


def save(figure, name: str) -> None:
    figure.tight_layout()
    figure.savefig(IMAGES / name, dpi=80)
    print(f"wrote {IMAGES / name}")


def main() -> None:
    lightsheet_figure()
    brightfield_figure()


if __name__ == "__main__":
    main()
