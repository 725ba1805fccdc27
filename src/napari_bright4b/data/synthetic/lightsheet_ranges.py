"""The ranges a simulated light-sheet volume's image formation is drawn from (um unless noted).

:data:`CLASSIC` is the simulator the first bundled light-sheet models were trained on;
:data:`RANDOMIZED` widens every range to cover the microscopes users have (a third blur
family, blur that grows with depth; intensities over three decades; saturation), with the
classic ranges as one corner of it, not its centre. :data:`TRAINING` is the randomized
space minus the widest-blur corner, which :data:`HELD_OUT_CORNER` draws from alone, so a
model trained on the one is scored on a region of the space it never saw
(leave-a-region-out). :data:`HELD_OUT_WIDEFIELD` draws the same space through a widefield
microscope's PSF instead (no optical sectioning: haze from every plane), a PSF family no
recipe trains on. :data:`TRAINING_DARK` is the training space with almost no tissue
background: sparse structure on a dark field, as in cleared samples and phantoms such as
flowdec's bars. docs/models.md lists the ranges with a figure.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

Range = tuple[float, float]


@dataclass(frozen=True)
class ImagingRanges:
    """Blur ``kinds`` and (low, high) ranges: detection blur ``lateral_um`` and ``axial_um``
    (Gaussian sigmas; also the depth kind's at the top), the sheet's ``waist_um``, the
    scattering halo's share ``scatter`` and width ``scatter_um``, the depth kind's sigma
    growth from top to bottom ``depth_growth`` (a factor), the widefield kind's
    out-of-focus cone ``cone_slope`` (tan of its half-angle) and depth ``defocus_um``
    (:mod:`.widefield`), tissue autofluorescence
    ``tissue`` (relative to the stain's 2-6), ``photons`` per unit density (drawn
    log-uniformly with ``log_photons``), camera ``read_noise`` (counts) and the share of
    voxels ``saturated`` at the camera's maximum. No blur with lateral and axial sigmas
    both at or above ``excluded_corner`` is drawn."""

    kinds: tuple[str, ...] = ("gaussian", "light-sheet")
    lateral_um: Range = (0.8, 2.0)
    axial_um: Range = (2.0, 5.0)
    waist_um: Range = (1.5, 3.5)
    scatter: Range = (0.05, 0.2)
    scatter_um: Range = (6.0, 15.0)
    depth_growth: Range = (0.5, 2.0)
    cone_slope: Range = (0.2, 1.5)
    defocus_um: Range = (10.0, 60.0)
    tissue: Range = (0.05, 0.2)
    photons: Range = (50.0, 600.0)
    log_photons: bool = False
    read_noise: Range = (1.0, 4.0)
    saturated: Range = (0.0, 0.0)
    excluded_corner: tuple[float, float] | None = None

    def excludes(self, blur: dict) -> bool:
        """Whether ``blur`` (from :func:`.lightsheet.draw_blur`) lies in the excluded corner."""
        if self.excluded_corner is None or "axial_um" not in blur:
            return False
        lateral, axial = self.excluded_corner
        return blur["lateral_um"] >= lateral and blur["axial_um"] >= axial


CLASSIC = ImagingRanges()
RANDOMIZED = ImagingRanges(
    kinds=("gaussian", "light-sheet", "depth"),
    lateral_um=(0.4, 3.5),
    axial_um=(1.0, 10.0),
    waist_um=(1.0, 6.0),
    scatter=(0.0, 0.3),
    scatter_um=(5.0, 20.0),
    tissue=(0.02, 0.5),
    photons=(5.0, 5000.0),
    log_photons=True,
    read_noise=(1.0, 8.0),
    saturated=(0.0, 0.02),
)
TRAINING = replace(RANDOMIZED, excluded_corner=(2.8, 7.0))
HELD_OUT_CORNER = replace(RANDOMIZED, kinds=("gaussian",), lateral_um=(2.8, 3.5), axial_um=(7.0, 10.0))
HELD_OUT_WIDEFIELD = replace(TRAINING, kinds=("widefield",))
TRAINING_DARK = replace(TRAINING, tissue=(0.0, 0.02))
RANGES = {
    "classic": CLASSIC,
    "randomized": RANDOMIZED,
    "training": TRAINING,
    "held-out-corner": HELD_OUT_CORNER,
    "held-out-widefield": HELD_OUT_WIDEFIELD,
    "training-dark": TRAINING_DARK,
}
