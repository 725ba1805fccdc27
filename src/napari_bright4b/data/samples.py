"""napari sample data (File > Open Sample), generated locally in seconds (no download).

- a simulated brightfield hiPSC colony with its ground truth (per structure, and as one
  map of structures for the Inside tab);
- a simulated light-sheet volume of stained nuclei in cleared tissue, blurred by a
  light-sheet PSF, with the sharp volume it came from and the nuclei mask.

Layers carry the voxel size (um) as ``scale``.
"""

from __future__ import annotations

SAMPLE_SHAPE = (40, 192, 192)
SAMPLE_SEED = 7
LIGHTSHEET_SHAPE = (40, 160, 160)


def brightfield_colony() -> list[tuple]:
    """Image + ground-truth Labels layers as napari ``LayerData`` tuples."""
    from .synthetic.brightfield import ALLEN_VOXEL_SIZE, simulate_brightfield
    from .synthetic.colony import structure_map

    sample = simulate_brightfield(SAMPLE_SHAPE, ALLEN_VOXEL_SIZE, SAMPLE_SEED)
    scale = list(sample.voxel_size)
    colony = sample.colony
    return [
        (sample.image, {"name": "brightfield (simulated)", "scale": scale}, "image"),
        (colony.nuclei, {"name": "nuclei (truth)", "scale": scale, "opacity": 0.4}, "labels"),
        (colony.nucleoli.astype("uint8"), {"name": "nucleoli (truth)", "scale": scale}, "labels"),
        (
            colony.mitochondria.astype("uint8"),
            {"name": "mitochondria (truth)", "scale": scale},
            "labels",
        ),
        (structure_map(colony), {"name": "structures (truth)", "scale": scale, "visible": False}, "labels"),
    ]


def lightsheet_nuclei() -> list[tuple]:
    """Blurred light-sheet image, its sharp original and the nuclei mask as ``LayerData``."""
    from .synthetic.lightsheet import LIGHTSHEET_VOXEL_SIZE, simulate_lightsheet

    sample = simulate_lightsheet(LIGHTSHEET_SHAPE, LIGHTSHEET_VOXEL_SIZE, SAMPLE_SEED, "nuclear", "light-sheet")
    scale = list(sample.voxel_size)
    return [
        (sample.image, {"name": "light-sheet nuclei (simulated)", "scale": scale, "colormap": "magma"}, "image"),
        (sample.sharp, {"name": "sharp (truth)", "scale": scale, "colormap": "magma", "visible": False}, "image"),
        (sample.mask.astype("uint8"), {"name": "nuclei (truth)", "scale": scale, "opacity": 0.4}, "labels"),
    ]
