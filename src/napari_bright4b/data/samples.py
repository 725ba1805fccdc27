"""napari sample data (File > Open Sample): a simulated brightfield colony with its ground truth.

Generated locally in seconds (no download). Layers carry the voxel size as ``scale``.
"""

from __future__ import annotations

SAMPLE_SHAPE = (40, 192, 192)
SAMPLE_SEED = 7


def brightfield_colony() -> list[tuple]:
    """Image + ground-truth Labels layers as napari ``LayerData`` tuples."""
    from .synthetic.brightfield import ALLEN_VOXEL_SIZE, simulate_brightfield

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
    ]
