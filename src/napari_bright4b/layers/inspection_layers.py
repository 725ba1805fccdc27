"""An inspection as napari ``LayerData`` over its input layer, without importing napari.

Token maps get the token grid's ``scale`` and ``translate`` on their last three axes (each
token's pixel covers exactly its patch, :mod:`.token_grid`). Per-layer maps carry the
transformer layer as a leading slider axis whose world coordinate is the 1-based layer
number; expert usage has the expert (0-based) before it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..analysis.inspection import PATHS, Inspection
from .layer_data import LayerInput, layer_name

RUN = "inspect"  # metadata["bright4b"]["run"] of these layers
GATE_COLORMAPS = {"compression": "red", "selection": "green", "window": "blue"}


def value_range(values: np.ndarray) -> tuple[float, float]:
    """Contrast limits spanning ``values`` (widened when they are all equal): the maps vary
    little around their typical level (gates near their init, usage near uniform), and the
    range, not 0-1, shows where."""
    low, high = float(values.min()), float(values.max())
    return (low, high) if high > low else (low - 0.5, high + 0.5)


def inspection_layers(
    inspection: Inspection, source: LayerInput, axis_labels: Sequence[str] = ("z", "y", "x")
) -> list[tuple]:
    """``LayerData`` for ``inspection`` of ``source`` (whose last three axes are labelled
    ``axis_labels``): routing entropy, the compression/selection/window gates and expert
    usage as Images with a layer slider (contrast over each map's range), the dominant
    expert as Labels (value = expert + 1, named in ``features``), and an RGB Image of the
    PCA of each chosen layer. Only the entropy is visible at first."""
    scale, translate = inspection.grid.placement(source.scale, source.translate)
    labels = tuple(axis_labels)

    def layer(data, output: str, kind: str, leading: Sequence[tuple[str, float]] = (), **kwargs) -> tuple:
        kwargs.update(
            name=layer_name(source.name, inspection.model, output),
            scale=(*[1.0] * len(leading), *scale),
            translate=(*[start for _, start in leading], *translate),
            axis_labels=(*[label for label, _ in leading], *labels),
            metadata={"bright4b": {"input": source.name, "model": inspection.model, "output": output, "run": RUN}},
        )
        return data, kwargs, kind

    per_layer = [("transformer layer", 1.0)]
    entropy = inspection.entropy
    layers = [
        layer(entropy, "routing entropy", "image", per_layer, colormap="inferno", contrast_limits=value_range(entropy))
    ]
    experts = np.arange(inspection.experts)
    layers.append(
        layer(
            inspection.dominant_expert.astype(np.uint16) + 1,
            "dominant expert",
            "labels",
            per_layer,
            features={"index": experts + 1, "expert": experts},
            opacity=0.5,
            visible=False,
        )
    )
    if inspection.gates is not None:
        for index, path in enumerate(PATHS):
            layers.append(
                layer(
                    inspection.gates[:, index],
                    f"{path} gate",
                    "image",
                    per_layer,
                    colormap=GATE_COLORMAPS[path],
                    blending="additive",
                    contrast_limits=value_range(inspection.gates[:, index]),
                    visible=False,
                )
            )
    layers.append(
        layer(
            inspection.usage.swapaxes(0, 1),
            "expert usage",
            "image",
            [("expert", 0.0), *per_layer],
            colormap="viridis",
            contrast_limits=value_range(inspection.usage),
            visible=False,
        )
    )
    for number, rgb in sorted(inspection.pca.items()):
        layers.append(layer(rgb, f"PCA layer {number}", "image", rgb=True, visible=False))
    return layers
