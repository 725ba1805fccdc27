"""One fine-tune in flight and the work the Fine-tune tab's background run does for it:
:func:`~..training.finetune.finetune` on the painted strokes, then
:func:`~..training.finetune.predict_painted` over the whole volume. Cancel ends training and
keeps the best model so far; pressed again, it skips the prediction."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from napari.layers import Labels

from ..errors import Cancelled
from ..inference.engine import CancelToken
from ..inference.steps import progress_steps
from ..layers.layer_data import LayerInput
from ..training.finetune import FinetuneSettings, finetune, predict_painted

RUN = "finetune"  # the kind of run in the result layers' tags


def current_z(viewer, source: LayerInput) -> int:
    """The slice in view of ``viewer``, on ``source``'s grid."""
    z = (viewer.dims.point[viewer.dims.ndim - 3] - source.translate[0]) / source.scale[0]
    return int(np.clip(round(z), 0, source.shape[0] - 1))


@dataclass
class FinetuneRun:
    """A fine-tune of ``base`` on the strokes of ``labels`` over ``source``, saved to ``out``:
    ``z`` is the slice to preview (it follows the viewer), ``preview`` the labels previewed so
    far, ``train`` and ``predict`` the tokens of its two Cancels."""

    source: LayerInput
    labels: Labels
    base: str
    out: Path
    z: int
    preview: np.ndarray = field(init=False)
    train: CancelToken = field(default_factory=CancelToken)
    predict: CancelToken = field(default_factory=CancelToken)

    def __post_init__(self) -> None:
        self.preview = np.zeros(self.source.shape, np.uint8)

    @property
    def model(self) -> str:
        return self.out.stem

    @property
    def tag(self) -> tuple[str, str, str]:
        """The tag of the run's result layers."""
        return self.source.name, self.model, RUN

    def cancel(self) -> None:
        """End training (the best model so far is kept); called again, skip the prediction."""
        (self.predict if self.train.cancelled else self.train).cancel()

    def work(self, data: np.ndarray, strokes: np.ndarray, settings: FinetuneSettings, names: dict, device: str):
        """In the worker: yield ``(report, None)`` per training report, then ``(tile, total)``
        while predicting; return ``(result, prediction)``, ``prediction`` ``None`` when the
        second Cancel skipped it."""

        def train(progress, cancel):
            return finetune(
                data,
                self.source.voxel_size,
                strokes,
                self.base,
                names=names,
                settings=settings,
                out=self.out,
                device=device,
                progress=lambda report: progress(report, None),
                cancel=cancel,
                preview_z=lambda: self.z,
            )

        result = yield from progress_steps(train, cancel=self.train)
        try:
            prediction = yield from progress_steps(
                predict_painted, result, data, self.source.voxel_size, cancel=self.predict
            )
        except Cancelled:
            prediction = None
        return result, prediction
