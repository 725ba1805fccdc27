"""The model card: JSON metadata carried inside every checkpoint, validated field by field."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..errors import CheckpointError
from .config import Bright4BConfig, HeadConfig

FORMAT_VERSION = 1
BACKBONES = ("bright4b",)
VIEW_COUNTS = (1, 2, 4, 8)  # test-time views of a tile: see inference/views.py
MODALITIES = ("brightfield", "light-sheet", "fluorescence", "electron")


@dataclass
class ModelCard:
    """Everything needed to rebuild and use a model, plus where it came from.

    ``voxel_size``: the (z, y, x) voxel size in micrometres the model was trained at.
    ``normalization``: robust percentile normalization ``{"low": 1.0, "high": 99.8}``.
    ``tile``: the native field of view (z, y, x) in voxels.
    ``thresholds``: per-class probability cuts in (0, 1) chosen by the model's maker on
    training data (sigmoid segmentation models; classes without one fall back to Otsu).
    ``views``: how many symmetric y-x views of each tile inference averages by default
    (1, 2, 4 or 8; :mod:`..inference.views`), the setting the card's metrics were measured with.
    ``deconvolution``: for a deblurring model that refines a Richardson-Lucy deconvolution
    with the user's PSF, its settings ``{"iterations": n, "tv": w}``
    (:func:`..inference.deconvolution.deconvolve`, run before the model); empty for a model
    that reads the image itself.
    """

    name: str
    config: Bright4BConfig
    head: HeadConfig
    voxel_size: tuple[float, float, float] = (0.29, 0.108, 0.108)
    modality: str = "brightfield"
    normalization: dict[str, float] = field(default_factory=lambda: {"low": 1.0, "high": 99.8})
    tile: tuple[int, int, int] = (32, 128, 128)
    backbone: str = "bright4b"
    description: str = ""
    provenance: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)
    views: int = 1
    deconvolution: dict[str, float] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": self.format_version,
            "name": self.name,
            "backbone": self.backbone,
            "config": self.config.to_dict(),
            "head": self.head.to_dict(),
            "voxel_size": list(self.voxel_size),
            "modality": self.modality,
            "normalization": dict(self.normalization),
            "tile": list(self.tile),
            "description": self.description,
            "provenance": dict(self.provenance),
            "metrics": dict(self.metrics),
            "thresholds": dict(self.thresholds),
            "views": self.views,
            "deconvolution": dict(self.deconvolution),
        }

    @classmethod
    def from_dict(cls, data: Any) -> ModelCard:
        """Validate ``data`` (parsed JSON); raise :class:`CheckpointError` naming the bad field."""
        if not isinstance(data, dict):
            raise CheckpointError("model card must be a JSON object")
        version = _require(data, "format_version", int)
        if version != FORMAT_VERSION:
            raise CheckpointError(
                f"model card field 'format_version' is {version}; this version of bright4b reads "
                f"format {FORMAT_VERSION} (upgrade napari-bright4b for newer checkpoints)"
            )
        backbone = _require(data, "backbone", str)
        if backbone not in BACKBONES:
            raise CheckpointError(f"model card field 'backbone' is {backbone!r}; expected one of {BACKBONES}")
        modality = _require(data, "modality", str)
        if modality not in MODALITIES:
            raise CheckpointError(f"model card field 'modality' is {modality!r}; expected one of {MODALITIES}")
        config = _parse("config", Bright4BConfig.from_dict, _require(data, "config", dict))
        head = _parse("head", HeadConfig.from_dict, _require(data, "head", dict))
        _parse("head", head.check_fits, config)
        return cls(
            name=_nonempty(_require(data, "name", str), "name"),
            config=config,
            head=head,
            voxel_size=_positive_triple(data, "voxel_size", float),
            modality=modality,
            normalization=_normalization(_require(data, "normalization", dict)),
            tile=_positive_triple(data, "tile", int),
            backbone=backbone,
            description=_require(data, "description", str),
            provenance=_require(data, "provenance", dict),
            metrics=_require(data, "metrics", dict),
            thresholds=_thresholds(data.get("thresholds", {}), head.class_names),
            views=_views(data.get("views", 1)),
            deconvolution=_deconvolution(data.get("deconvolution", {}), head.task),
            format_version=version,
        )


def _require(data: dict, key: str, kind: type) -> Any:
    if key not in data:
        raise CheckpointError(f"model card field '{key}' is missing")
    value = data[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise CheckpointError(f"model card field '{key}' must be {kind.__name__}, got {value!r}")
    return value


def _nonempty(value: str, key: str) -> str:
    if not value.strip():
        raise CheckpointError(f"model card field '{key}' must not be empty")
    return value


def _parse(key: str, parser, value):
    try:
        return parser(value)
    except Exception as err:  # any failure to build a config from JSON is the card's fault
        raise CheckpointError(f"model card field '{key}' is invalid: {err}") from None


def _positive_triple(data: dict, key: str, kind: type) -> tuple:
    value = _require(data, key, list)
    ok = len(value) == 3 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and _finite(v) and v > 0 for v in value
    )
    if not ok or (kind is int and not all(isinstance(v, int) for v in value)):
        raise CheckpointError(f"model card field '{key}' must be 3 positive {kind.__name__}s (z, y, x), got {value!r}")
    return tuple(kind(v) for v in value)


def _finite(value: int | float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float
        return False


def _normalization(value: dict) -> dict[str, float]:
    low, high = value.get("low"), value.get("high")
    if (
        not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high))
        or not 0 <= low < high <= 100
    ):
        raise CheckpointError(
            f"model card field 'normalization' must be {{'low': p, 'high': q}} with 0 <= p < q <= 100, got {value!r}"
        )
    return {"low": float(low), "high": float(high)}


def _views(value: Any) -> int:
    """Optional (cards written before it have none, and mean 1)."""
    if value not in VIEW_COUNTS or isinstance(value, bool):
        raise CheckpointError(f"model card field 'views' must be one of {list(VIEW_COUNTS)}, got {value!r}")
    return int(value)


def _thresholds(value: Any, class_names: tuple[str, ...]) -> dict[str, float]:
    """Optional (cards written before it have none): ``{class name: cut in (0, 1)}``."""
    ok = isinstance(value, dict) and all(
        name in class_names and isinstance(cut, (int, float)) and not isinstance(cut, bool) and 0 < cut < 1
        for name, cut in value.items()
    )
    if not ok:
        raise CheckpointError(
            f"model card field 'thresholds' must map class names {list(class_names)} to numbers in (0, 1), "
            f"got {value!r}"
        )
    return {name: float(cut) for name, cut in value.items()}


def _deconvolution(value: Any, task: str) -> dict[str, float]:
    """Optional (cards written before it have none): ``{}`` or a deblurring model's
    ``{"iterations": n >= 1, "tv": w in [0, 0.5)}``."""
    if value == {}:
        return {}
    iterations, tv = (value.get(k) if isinstance(value, dict) else None for k in ("iterations", "tv"))
    ok = (
        task == "deblur"
        and set(value) == {"iterations", "tv"}
        and isinstance(iterations, int)
        and not isinstance(iterations, bool)
        and iterations >= 1
        and isinstance(tv, (int, float))
        and not isinstance(tv, bool)
        and 0 <= tv < 0.5
    )
    if not ok:
        raise CheckpointError(
            "model card field 'deconvolution' must be {} or, for a deblurring model, "
            f"{{'iterations': n >= 1, 'tv': w in [0, 0.5)}}, got {value!r}"
        )
    return {"iterations": iterations, "tv": float(tv)}
