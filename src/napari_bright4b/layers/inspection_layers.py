"""An inspection as napari ``LayerData`` over its input layer, without importing napari.

Token maps get the token grid's ``scale`` and ``translate`` on their last three axes (each
token's pixel covers exactly its patch, :mod:`.token_grid`). Per-layer maps carry the
transformer layer as a leading slider axis whose world coordinate is the 1-based layer
number; expert usage has the expert (0-based) before it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ..analysis.inspection import PATHS, Inspection
from .layer_data import LayerInput, layer_name

RUN = "inspect"  # metadata["bright4b"]["run"] of these layers
GATE_COLORMAPS = {"compression": "red", "selection": "green", "window": "blue"}
PER_LAYER = (("transformer layer", 1.0),)  # the slider of per-layer maps: 1-based layer numbers


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
    layer = _placed(inspection, source, axis_labels)
    entropy, experts = inspection.entropy, np.arange(inspection.experts)
    layers = [
        layer(entropy, "routing entropy", "image", PER_LAYER, colormap="inferno", contrast_limits=value_range(entropy)),
        layer(
            inspection.dominant_expert.astype(np.uint16) + 1,
            "dominant expert",
            "labels",
            PER_LAYER,
            features={"index": experts + 1, "expert": experts},
            opacity=0.5,
            visible=False,
        ),
    ]
    if inspection.gates is not None:
        layers += [_gate_layer(layer, inspection.gates[:, index], path) for index, path in enumerate(PATHS)]
    layers.append(
        layer(
            inspection.usage.swapaxes(0, 1),
            "expert usage",
            "image",
            [("expert", 0.0), *PER_LAYER],
            colormap="viridis",
            contrast_limits=value_range(inspection.usage),
            visible=False,
        )
    )
    layers += [
        layer(rgb, f"PCA layer {n}", "image", rgb=True, visible=False) for n, rgb in sorted(inspection.pca.items())
    ]
    return layers


def _placed(inspection: Inspection, source: LayerInput, axis_labels: Sequence[str]) -> Callable[..., tuple]:
    """A maker of ``(data, kwargs, kind)`` for a map ``(*leading, tz, ty, tx)`` of ``inspection``:
    ``layer(data, output, kind, leading=(), **kwargs)`` with ``leading`` the ``(label, start)``
    of each slider axis (step 1) and the token grid's scale and translate (um) on the last
    three axes."""
    scale, translate = inspection.grid.placement(source.scale, source.translate)
    metadata = {"input": source.name, "model": inspection.model, "run": RUN}

    def layer(data, output: str, kind: str, leading: Sequence[tuple[str, float]] = (), **kwargs) -> tuple:
        kwargs.update(
            name=layer_name(source.name, inspection.model, output),
            scale=(*[1.0] * len(leading), *scale),
            translate=(*[start for _, start in leading], *translate),
            axis_labels=(*[label for label, _ in leading], *axis_labels),
            metadata={"bright4b": {**metadata, "output": output}},
        )
        return data, kwargs, kind

    return layer


def _gate_layer(layer: Callable[..., tuple], gates: np.ndarray, path: str) -> tuple:
    """The Image of one path's gates ``(L, tz, ty, tx)``, hidden, added in its colour."""
    return layer(
        gates,
        f"{path} gate",
        "image",
        PER_LAYER,
        colormap=GATE_COLORMAPS[path],
        blending="additive",
        contrast_limits=value_range(gates),
        visible=False,
    )
