"""Between napari layers and the engine, without importing napari: checks, names, result layers.

An input layer becomes a volume ``(1, Z, Y, X)`` (a view: never copied or modified) and
a voxel size ``(z, y, x)`` in micrometres from its ``scale``. Results become napari
``LayerData`` tuples ``(data, kwargs, layer_type)`` on the input's grid, with its
``scale`` and ``translate``, named ``"<input> · <model> · <output>"`` and tagged in
``metadata["bright4b"]`` so that a re-run finds and updates them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np

from ..errors import BadInputError
from ..inference.job import Result
from ..inference.resample import check_voxel_size

SEPARATOR = " · "
COLORMAPS = ("green", "magenta", "cyan", "yellow", "red", "blue")  # napari colormap names, one per class
COLORS = ("#00ff00", "#ff00ff", "#00ffff", "#ffff00", "#ff0000", "#0000ff")  # the same colours, as hex
UNSET_SCALE = (1.0, 1.0, 1.0)  # napari's default: the layer records no voxel size


def layer_name(input_name: str, model: str, output: str) -> str:
    return SEPARATOR.join((input_name, model, output))


def class_color(index: int) -> tuple[str, str]:
    """The napari colormap name and hex colour of the ``index``-th class."""
    return COLORMAPS[index % len(COLORMAPS)], COLORS[index % len(COLORS)]


@dataclass(frozen=True)
class LayerInput:
    """A checked input layer: its ``data (Z, Y, X)`` as the layer holds it (possibly lazy);
    ``voxel_size`` (z, y, x, um) is what the model is told, ``note`` says why if it is not
    the layer's scale."""

    name: str
    data: object
    voxel_size: tuple[float, float, float]
    scale: tuple[float, ...]
    translate: tuple[float, ...]
    contrast_limits: tuple[float, float] | None = None
    colormap: str | None = None
    note: str | None = None

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.data.shape)

    def volume(self):
        """The data as ``(1, Z, Y, X)``: a view for NumPy data; for lazy data (dask, zarr, the
        finest level of a multiscale layer) a dask array, read tile by tile by the engine."""
        if isinstance(self.data, np.ndarray):
            return self.data[None]
        import dask.array as da

        return (self.data if isinstance(self.data, da.Array) else da.from_array(self.data))[None]

    def in_memory(self) -> np.ndarray:
        """The data as ``(1, Z, Y, X)`` in memory (for work on the whole volume at once)."""
        return np.asarray(self.data)[None]

    def z_um(self) -> np.ndarray:
        """World z coordinate (um) of each slice, ``(Z,)``."""
        return self.translate[0] + self.scale[0] * np.arange(self.shape[0], dtype=float)


def layer_input(
    name: str,
    kind: str,
    data,
    scale: Sequence[float],
    translate: Sequence[float],
    model_voxel_size: Sequence[float],
    *,
    rgb: bool = False,
    multiscale: bool = False,
    contrast_limits: Sequence[float] | None = None,
    colormap: str | None = None,
) -> LayerInput:
    """Check a napari layer (``kind``: ``"image"``, ``"labels"``, ...) and take its volume.

    Raises :class:`BadInputError` saying what was wrong and what would work. A scale of
    (1, 1, 1), napari's default, is read as "no voxel size recorded": the model's is assumed.
    """
    if kind != "image":
        raise BadInputError(f"{name!r} is a {kind} layer; pick an Image layer (right-click > Convert to Image)")
    if rgb:
        raise BadInputError(f"{name!r} is an RGB image; the models read one grey-level 3D stack (Z, Y, X)")
    if multiscale:
        data = data[0]  # the finest level; the others are for display
    shape = tuple(data.shape)
    if len(shape) != 3:
        hint = "split it into channels or time points first (right-click > Split Stack)" if len(shape) > 3 else ""
        raise BadInputError(
            f"{name!r} has {len(shape)} dimensions {shape}; the models read a 3D stack (Z, Y, X)"
            + (f": {hint}" if hint else "")
        )
    scale, translate = tuple(float(s) for s in scale), tuple(float(t) for t in translate)
    note = None
    if np.allclose(scale, UNSET_SCALE):
        voxel_size = check_voxel_size(model_voxel_size)
        note = (
            f"{name!r} has scale (1, 1, 1), so no voxel size; assuming the model's {voxel_size} um "
            "(set the layer's scale in um to resample)"
        )
    else:
        voxel_size = check_voxel_size(scale)
    return LayerInput(
        name,
        data,
        voxel_size,
        scale,
        translate,
        tuple(float(c) for c in contrast_limits) if contrast_limits is not None else None,
        colormap,
        note,
    )


def layer_tuple(
    source: LayerInput,
    model: str,
    output: str,
    data,
    kind: str,
    run: str | None = None,
    details: dict | None = None,
    **kwargs,
):
    """``LayerData`` ``(data, kwargs, kind)`` for ``output`` of ``model`` on ``source``: named
    ``"<input> · <model> · <output>"``, on the input's grid, tagged with the kind of ``run``
    (none: the Run tab's) so that a re-run finds and updates it, and with the run's
    ``details`` (settings, timing)."""
    tag = {"input": source.name, "model": model, "output": output} | ({"run": run} if run else {}) | (details or {})
    kwargs.update(
        name=layer_name(source.name, model, output),
        scale=source.scale,
        translate=source.translate,
        metadata={"bright4b": tag},
    )
    return data, kwargs, kind


def painted_prediction_layers(
    source: LayerInput, model: str, run: str, labels: np.ndarray, uncertainty: np.ndarray, colormap=None
) -> list[tuple]:
    """``LayerData`` of a classifier of painted classes: its ``labels (Z, Y, X)`` painted values
    (in the strokes' ``colormap``) and its ``uncertainty (Z, Y, X)`` in [0, 1]."""
    style = {"colormap": colormap} if colormap is not None else {}
    return [
        layer_tuple(source, model, "prediction", labels, "labels", run, opacity=0.6, **style),
        layer_tuple(
            source,
            model,
            "uncertainty",
            uncertainty,
            "image",
            run,
            colormap="inferno",
            contrast_limits=(0.0, 1.0),
            blending="additive",
        ),
    ]


def result_layers(result: Result, source: LayerInput) -> list[tuple]:
    """``LayerData`` for a run's outputs: segment -> a probability Image per class (additive,
    a colormap each) and a Labels per structure (mask or instances); deblur -> the sharp
    Image with the input's contrast and colormap; classify -> the class map as Labels whose
    ``features`` name the classes. Each layer's ``metadata["bright4b"]`` also holds the run's
    settings, device, seconds and finishing time (UTC)."""

    details = {
        "settings": result.settings,
        "device": result.device,
        "seconds": round(result.seconds, 3),
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }

    def layer(data, output: str, kind: str, **kwargs) -> tuple:
        return layer_tuple(source, result.model, output, data, kind, details=details, **kwargs)

    layers = []
    if result.task == "segment":
        first = 1 if result.exclusive else 0
        for index, channel in enumerate(range(first, len(result.class_names))):
            layers.append(
                layer(
                    result.maps[channel],
                    f"{result.class_names[channel]} probability",
                    "image",
                    colormap=class_color(index)[0],
                    blending="additive",
                    contrast_limits=(0.0, 1.0),
                )
            )
        for index, structure in enumerate(result.structures):
            output = f"{structure.name} {structure.kind}"
            if structure.kind == "instances":  # napari's cycling label colours
                layers.append(layer(structure.labels, output, "labels"))
            else:
                colors = {None: "transparent", 0: "transparent", 1: class_color(index)[1]}
                layers.append(layer(structure.labels, output, "labels", colormap=colors, opacity=0.5))
    elif result.task == "deblur":
        style = {"contrast_limits": source.contrast_limits, "colormap": source.colormap}
        layers.append(layer(result.maps[0], "deblurred", "image", **{k: v for k, v in style.items() if v is not None}))
    else:
        features = {"index": np.arange(1, len(result.class_names) + 1), "class": list(result.class_names)}
        layers.append(layer(result.class_map, "class map", "labels", features=features, opacity=0.5))
    return layers
