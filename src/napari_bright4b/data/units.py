"""Length units as image metadata writes them (TIFF, ImageJ, OME, OME-NGFF), in micrometres."""

from __future__ import annotations

UM_PER_UNIT = {
    "nm": 1e-3,
    "nanometer": 1e-3,
    "um": 1.0,
    "µm": 1.0,
    "\u03bcm": 1.0,
    "\\u00b5m": 1.0,  # ImageJ writes the micro sign escaped
    "micron": 1.0,
    "microns": 1.0,
    "micrometer": 1.0,
    "mm": 1e3,
    "millimeter": 1e3,
    "cm": 1e4,
    "centimeter": 1e4,
    "m": 1e6,
    "meter": 1e6,
    "inch": 25400.0,
    "in": 25400.0,
    "å": 1e-4,
    "angstrom": 1e-4,
}


def um_per_unit(unit: str | None) -> float | None:
    """Micrometres per ``unit`` (a length unit as TIFF, OME or OME-NGFF metadata writes it;
    ``None``: um, their default); ``None`` for a unit that is not a length (e.g. ``pixel``)."""
    if unit is None or unit == "":
        return 1.0
    return UM_PER_UNIT.get(str(unit).strip().lower())
