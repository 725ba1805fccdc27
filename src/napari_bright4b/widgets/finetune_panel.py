"""The Fine-tune tab: fine-tune the chosen model on strokes painted in a Labels layer, with a
live loss curve and a preview of the current slab, then the prediction and an uncertainty
layer; the new model becomes the chosen one, and Revert goes back to the base.

The work is :func:`~..training.finetune.finetune` then
:func:`~..training.finetune.predict_painted`, in a generator worker; Cancel ends training
and keeps the best model so far (a second Cancel skips the whole-volume prediction).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from napari.layers import Labels
from napari.qt.threading import create_worker
from napari.utils.notifications import show_error, show_warning
from qtpy.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..errors import BadInputError, Cancelled
from ..inference.engine import CancelToken
from ..inference.steps import progress_steps
from ..layers.layer_data import LayerInput, layer_tuple, painted_prediction_layers
from ..models.card import ModelCard
from ..models.registry import portable_name
from ..training.finetune import (
    FinetuneResult,
    FinetuneSettings,
    Prediction,
    Report,
    default_output,
    finetune,
    predict_painted,
)
from ..training.finetune.modes import DEFAULT_MODE
from ..training.finetune.painted import BACKGROUND, check_labels
from .class_table import ClassTable
from .layer_picker import LayerPicker
from .layers import show_layers
from .predict_while_painting import PredictWhilePainting
from .settings_button import SettingsButton
from .stroke_counter import StrokeCounter
from .training_plot import TrainingPlot

RUN = "finetune"  # the kind of run in the result layers' tags
NO_STROKES = "no Labels layer to learn from: add one with New and paint background (1) and classes"
MODES = {
    "instant": "instant classifier on features (seconds)",
    "full": "all weights",
    "adapter": "low-rank adapters + head",
    "head": "head only",
}
REDRAW_S = 0.5


def paintable(layer) -> bool:
    """A 3D Labels layer that is not one of the plugin's results."""
    return layer.ndim == 3 and layer.metadata.get("bright4b") is None


@dataclass(frozen=True)
class ModelChoice:
    """The model choice the tab shares: ``current()`` gives the chosen model's spec and card,
    ``select(spec)`` makes a model (a checkpoint path) the chosen one."""

    current: Callable[[], tuple[str | None, ModelCard | None]]
    select: Callable[[str], None]
    device: Callable[[], str] = lambda: "auto"


def model_panel_choice(panel) -> ModelChoice:
    """The :class:`ModelChoice` of the dock's Model tab (a ``ModelPanel``)."""

    def select(spec: str) -> None:
        index = panel.models.findData(str(spec))
        if index >= 0:
            panel.models.setCurrentIndex(index)
        else:
            panel.add_model_file(spec)

    return ModelChoice(lambda: (panel.spec, panel.card), select, lambda: panel.device)


@dataclass
class _Run:
    """One fine-tune in flight: its inputs, where it saves and its two cancel tokens."""

    source: LayerInput
    labels: Labels
    base: str
    out: Path
    train: CancelToken
    predict: CancelToken
    preview: np.ndarray
    z: int

    @property
    def model(self) -> str:
        return self.out.stem


class FinetunePanel(QWidget):
    """Fine-tunes the model of ``choice`` on the strokes of a Labels layer of ``viewer``.
    ``result`` is the latest :class:`FinetuneResult` (``None`` before one)."""

    def __init__(self, viewer, choice: ModelChoice, parent: QWidget | None = None):
        super().__init__(parent)
        self.viewer, self.choice = viewer, choice
        self.result: FinetuneResult | None = None
        self.base: str | None = None  # the spec the latest fine-tune started from
        self._run: _Run | None = None
        self._worker = None
        self._history: list[Report] = []
        self._drawn = 0.0
        self.preview_every_s = FinetuneSettings.preview_every_s

        self.image = LayerPicker(viewer)
        self.labels = LayerPicker(viewer, kinds=(Labels,), preferred=Labels, accept=paintable, missing=NO_STROKES)
        self.new_labels = QPushButton("New")
        self.new_labels.setToolTip("Add an empty Labels layer on the image's grid to paint on")
        self.classes = ClassTable()
        self.mode = QComboBox()
        for mode, text in MODES.items():
            self.mode.addItem(text + (" (default)" if mode == DEFAULT_MODE else ""), mode)
        self.mode.setCurrentIndex(self.mode.findData(DEFAULT_MODE))
        self.budget = QDoubleSpinBox()
        self.budget.setRange(1, 3600)
        self.budget.setValue(FinetuneSettings.time_budget_s)
        self.budget.setSuffix(" s")
        self.steps = QSpinBox()
        self.steps.setRange(0, 100_000)
        self.steps.setSpecialValueText("no limit")
        self.base_note = QLabel()
        self.base_note.setWordWrap(True)
        self.run_button = QPushButton("Fine-tune")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.revert_button = QPushButton("Revert")
        self.revert_button.setToolTip("Choose the base model again (the fine-tuned file stays in the model folder)")
        self.revert_button.setEnabled(False)
        self.status = QLabel("Paint background (label 1) and classes (2, 3, ...) in a Labels layer.")
        self.status.setWordWrap(True)
        self.live = PredictWhilePainting(viewer, self)
        self.counter = StrokeCounter(parent=self)
        self.counter.counted.connect(self._fill_classes)
        self.plot = TrainingPlot(viewer)

        labels_row = QHBoxLayout()
        labels_row.addWidget(self.labels, 1)
        labels_row.addWidget(self.new_labels)
        form = QFormLayout()
        form.addRow("Image layer", self.image)
        form.addRow("Painted labels", labels_row)
        form.addRow("Base model", self.base_note)
        form.addRow("Mode", self.mode)
        form.addRow("Time budget", self.budget)
        form.addRow("Steps", self.steps)
        buttons = QHBoxLayout()
        save = SettingsButton(self.saved_settings, self.status)
        for button in (self.run_button, self.cancel_button, self.revert_button, save):
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.classes)
        layout.addWidget(self.live)
        layout.addLayout(buttons)
        layout.addWidget(self.status)
        layout.addWidget(self.plot, 1)

        self.run_button.clicked.connect(self.run)
        self.cancel_button.clicked.connect(self.cancel)
        self.revert_button.clicked.connect(self.revert)
        self.new_labels.clicked.connect(self.add_labels_layer)
        self.labels.currentTextChanged.connect(self._watch_labels)
        viewer.dims.events.current_step.connect(self._on_dims)
        viewer.events.theme.connect(lambda *_: self._draw())
        self._watch_labels()
        self._draw()

    @property
    def busy(self) -> bool:
        return self._worker is not None

    def showEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        """The model may have changed in another tab: show it, and its class names."""
        self._watch_labels()
        super().showEvent(event)

    # --- inputs ---------------------------------------------------------------------------

    def labels_layer(self) -> Labels:
        return self.labels.layer()

    def class_names(self) -> dict[int, str]:
        """Painted value -> class name, as shown (and edited) in the table."""
        return self.classes.class_names()

    def settings(self) -> FinetuneSettings:
        return FinetuneSettings(
            mode=self.mode.currentData(),
            time_budget_s=self.budget.value(),
            steps=self.steps.value() or None,
            preview_every_s=self.preview_every_s,
        )

    def saved_settings(self) -> tuple[str, dict]:
        """``("finetune", options)`` for a settings file: the base, mode, budget, steps, device
        and the class names when the painted values run 2, 3, ... without a gap."""
        spec = self.choice.current()[0]
        if spec is None:
            raise BadInputError("no model is chosen; pick a segmentation model in the Model tab")
        names = self.class_names()
        contiguous = sorted(names) == list(range(2, 2 + len(names)))
        options = {
            "model": portable_name(spec),
            "mode": self.mode.currentData(),
            "time_budget": self.budget.value(),
            "steps": self.steps.value() or None,
            "device": self.choice.device(),
            "classes": [names[v] for v in sorted(names)] if names and contiguous else None,
        }
        return "finetune", options

    def add_labels_layer(self) -> None:
        """An empty Labels layer on the chosen image's grid, ready to paint the background."""
        try:
            image = self.image.layer()
        except BadInputError as err:
            show_error(f"Bright-4B: {err}")
            return
        layer = self.viewer.add_labels(
            np.zeros(image.data.shape, np.uint8),
            name=f"{image.name} strokes",
            scale=image.scale,
            translate=image.translate,
        )
        self.labels.setCurrentText(layer.name)
        layer.brush_size = 3
        layer.selected_label = BACKGROUND
        layer.mode = "paint"

    # --- running --------------------------------------------------------------------------

    def run(self) -> None:
        """Check the inputs, then fine-tune in a worker; bad input gives a notification."""
        if self.busy:
            return
        if self.mode.currentData() == "instant":
            self.live.start()
            return
        spec, card = self.choice.current()
        try:
            if card is None:
                raise BadInputError("no model is chosen; pick a segmentation model in the Model tab")
            source = self.image.source(card)
            labels = self.labels_layer()
            check_labels(labels.data.shape, source.shape)
        except BadInputError as err:
            show_error(f"Bright-4B: {err}")
            return
        if source.note:
            show_warning(f"Bright-4B: {source.note}")
        run = _Run(
            source,
            labels,
            spec,
            default_output(card.name),
            CancelToken(),
            CancelToken(),
            np.zeros(source.shape, np.uint8),
            self._current_z(source),
        )
        settings, names, device = self.settings(), self.class_names(), self.choice.device()
        data, strokes = source.in_memory(), np.asarray(labels.data)

        def work():
            def train(progress, cancel):
                return finetune(
                    data,
                    source.voxel_size,
                    strokes,
                    spec,
                    names=names,
                    settings=settings,
                    out=run.out,
                    device=device,
                    progress=lambda report: progress(report, None),
                    cancel=cancel,
                    preview_z=lambda: run.z,
                )

            try:
                result = yield from progress_steps(train, cancel=run.train)
            except BadInputError as err:
                return str(err)
            try:
                prediction = yield from progress_steps(
                    predict_painted, result, data, source.voxel_size, cancel=run.predict
                )
            except Cancelled:
                prediction = None
            return result, prediction

        self._run, self._history = run, []
        self._worker = create_worker(work, _start_thread=False)
        self._worker.yielded.connect(self._on_report)
        self._worker.returned.connect(self._on_returned)
        self._worker.finished.connect(self._on_finished)
        self.run_button.setEnabled(False)
        self.revert_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.status.setText(f"Fine-tuning {card.name} on {labels.name}…")
        self._draw()
        self._worker.start()

    def cancel(self) -> None:
        """End training and keep the best model so far; pressed again, skip the prediction."""
        if self._run is None:
            return
        token = self._run.predict if self._run.train.cancelled else self._run.train
        token.cancel()
        self.status.setText("Cancelling: keeping the best model so far…")

    def revert(self) -> None:
        """Choose the base model of the latest fine-tune again."""
        if self.base is None or self.result is None:
            return
        self.choice.select(self.base)
        self.status.setText(
            f"Back to the base model. {self.result.card.name} stays in {self.result.path.parent} "
            "(delete the file to remove it)."
        )
        self.revert_button.setEnabled(False)

    def _on_report(self, item) -> None:
        run = self._run
        if run is None:
            return
        report, total = item
        if not isinstance(report, Report):
            self.status.setText(f"Predicting the whole volume: tile {report} of {total}")
            return
        self._history.append(report)
        best = f", best held-out {report.best.balanced_accuracy:.2f} at step {report.best_step}" if report.best else ""
        limit = f"{report.budget_s:.0f} s" if report.budget_s else f"{report.steps} steps"
        self.status.setText(f"Step {report.step}, {report.seconds:.0f} of {limit}: loss {report.loss:.3f}{best}")
        if report.preview is not None:
            run.preview[report.preview.z] = report.preview.labels
            self._show([self._preview_layer(run)])
        if time.perf_counter() - self._drawn > REDRAW_S or report.held_out is not None:
            self._draw()

    def _on_returned(self, outcome) -> None:
        run = self._run
        if isinstance(outcome, str):
            self.status.setText(f"Failed: {outcome}")
            show_error(f"Bright-4B: {outcome}")
            self._show([])  # no half-made preview stays behind
            return
        result, prediction = outcome
        self.result, self.base = result, run.base
        layers = [self._preview_layer(run)]
        if prediction is not None:
            layers = self._prediction_layers(run, prediction)
        self._show(layers)
        self.choice.select(str(result.path))
        how = "cancelled: " if result.cancelled else ""
        self.status.setText(
            f"Saved {result.card.name} ({how}best step {result.best_step} of {result.steps}, held-out balanced "
            f"accuracy {result.best.balanced_accuracy:.2f}, {result.seconds:.0f} s) in {result.path.parent}. "
            "It is now the chosen model; Revert goes back to the base."
        )
        self.revert_button.setEnabled(True)
        self._draw()

    def _on_finished(self) -> None:
        self._worker = self._run = None
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)

    def _preview_layer(self, run: _Run) -> tuple:
        return layer_tuple(
            run.source, run.model, "prediction", run.preview, "labels", RUN, colormap=run.labels.colormap, opacity=0.6
        )

    def _prediction_layers(self, run: _Run, prediction: Prediction) -> list[tuple]:
        return painted_prediction_layers(
            run.source, run.model, RUN, prediction.labels, prediction.uncertainty, run.labels.colormap
        )

    def _show(self, layers: list[tuple]) -> None:
        run = self._run
        show_layers(self.viewer, layers, (run.source.name, run.model, RUN))

    def _draw(self) -> None:
        self._drawn = time.perf_counter()
        self.plot.draw_reports(self._history)

    # --- keeping up with the viewer -------------------------------------------------------

    def _current_z(self, source: LayerInput) -> int:
        z = (self.viewer.dims.point[self.viewer.dims.ndim - 3] - source.translate[0]) / source.scale[0]
        return int(np.clip(round(z), 0, source.shape[0] - 1))

    def _on_dims(self, *_) -> None:
        if self._run is not None and self.viewer.dims.ndim >= 3:
            self._run.z = self._current_z(self._run.source)

    def _show_base(self) -> ModelCard | None:
        _, card = self.choice.current()
        self.base_note.setText(card.name if card else "none: pick a segmentation model in the Model tab")
        return card

    def _watch_labels(self, *_) -> None:
        """Follow the chosen Labels layer's painting to keep the class table current."""
        self._show_base()
        try:
            layer = self.labels_layer()
        except BadInputError:
            self._fill_classes(None)
            self.live.watch(None)
            return
        self.live.watch(layer)
        for event in (layer.events.paint, layer.events.data):
            event.disconnect(self._on_painted)  # connected once, whichever layer was chosen before
            event.connect(self._on_painted)
        self.counter.request(layer)

    def _on_painted(self, event) -> None:
        name = self.labels.currentText()
        if name in self.viewer.layers and event.source is self.viewer.layers[name]:
            self.counter.request(event.source)

    def _fill_classes(self, layer: Labels | None, counts: np.ndarray | None = None) -> None:
        """The class table: a row per painted value of ``layer`` with its ``counts``."""
        if layer is not None and layer.name != self.labels.currentText():
            return  # a count of a layer no longer chosen
        card = self._show_base()
        self.classes.fill(layer, counts, card.head.class_names if card else ())
