"""Put result ``LayerData`` into a viewer: new layers are added, existing ones updated in place."""

from __future__ import annotations

import inspect

from napari.layers import Image, Labels

LAYER_TYPES = {"image": Image, "labels": Labels}
# set again when a layer is updated; the user's colormap, blending and opacity are kept
UPDATED = ("scale", "translate", "metadata", "features", "contrast_limits")


PREDICT = "predict"  # the kind of run of layers whose tag names none (the Run tab's)


def run_tag(layer) -> tuple[str, str, str] | None:
    """``(input name, model, kind of run)`` of the run that made ``layer``; ``None`` for other layers."""
    tag = layer.metadata.get("bright4b")
    return (tag["input"], tag["model"], tag.get("run", PREDICT)) if isinstance(tag, dict) else None


def show_layers(viewer, layer_data: list[tuple], tag: tuple[str, str, str]) -> None:
    """Add or update the layers of run ``tag``; its earlier layers that ``layer_data`` no longer
    holds (e.g. masks after switching to instances) are removed."""
    names = {kwargs["name"] for _, kwargs, _ in layer_data}
    for layer in list(viewer.layers):
        if run_tag(layer) == tag and layer.name not in names:
            viewer.layers.remove(layer)
    for data, kwargs, kind in layer_data:
        name = kwargs["name"]
        existing = viewer.layers[name] if name in viewer.layers else None
        if isinstance(existing, LAYER_TYPES[kind]) and run_tag(existing) == tag:
            existing.data = data
            for key in UPDATED:
                if key in kwargs:
                    setattr(existing, key, kwargs[key])
        else:
            if "axis_labels" not in inspect.signature(LAYER_TYPES[kind]).parameters:  # napari < 0.6
                kwargs = {key: value for key, value in kwargs.items() if key != "axis_labels"}
            viewer.add_layer(LAYER_TYPES[kind](data, **kwargs))
