"""The Fine-tune tab: fine-tune the chosen model on strokes painted in a Labels layer, with a
live loss curve and a preview of the current slab, then the prediction and an uncertainty
layer; the new model becomes the chosen one, and Revert goes back to the base.

The tab puts together its form (:mod:`.finetune_form`), the class table, the work of a
fine-tune (:mod:`.finetune_run`) on the shared :class:`~.background.BackgroundRun`, and what
it shows of it (:mod:`.finetune_results`, :mod:`.training_plot`). Cancel ends training and
keeps the best model so far (a second Cancel skips the whole-volume prediction).
"""

from __future__ import annotations

import numpy as np
from napari.layers import Labels
from napari.utils.notifications import show_error, show_warning
from qtpy.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from ..errors import BadInputError
from ..models.card import ModelCard
from ..models.registry import portable_name
from ..training.finetune import FinetuneResult, FinetuneSettings, Prediction, Report, default_output
from ..training.finetune.painted import check_labels
from .background import BackgroundRun
from .class_table import ClassTable
from .finetune_form import FinetuneForm
from .finetune_results import prediction_layers, preview_layers, report_status, saved_status
from .finetune_run import FinetuneRun, current_z
from .layers import show_layers
from .model_choice import ModelChoice
from .predict_while_painting import PredictWhilePainting
from .settings_button import SettingsButton
from .stroke_counter import StrokeCounter
from .training_plot import TrainingPlot

NO_MODEL = "no model is chosen; pick a segmentation model in the Model tab"


class FinetunePanel(QWidget):
    """Fine-tunes the model of ``choice`` on the strokes of a Labels layer of ``viewer``.
    ``result`` is the latest :class:`FinetuneResult` (``None`` before one)."""

    def __init__(self, viewer, choice: ModelChoice, parent: QWidget | None = None):
        super().__init__(parent)
        self.viewer, self.choice = viewer, choice
        self.result: FinetuneResult | None = None
        self.base: str | None = None  # the spec the latest fine-tune started from
        self._run: FinetuneRun | None = None  # the run under way, until it has succeeded
        self.preview_every_s = FinetuneSettings.preview_every_s

        self.form = FinetuneForm(viewer)
        self.classes = ClassTable()
        self.run_button = QPushButton("Fine-tune")
        self.cancel_button = QPushButton("Cancel")
        self.revert_button = QPushButton("Revert")
        self.revert_button.setToolTip("Choose the base model again (the fine-tuned file stays in the model folder)")
        self.revert_button.setEnabled(False)
        self.status = QLabel("Paint background (label 1) and classes (2, 3, ...) in a Labels layer.")
        self.status.setWordWrap(True)
        self.background = BackgroundRun(self.run_button, self.cancel_button, self.status)
        self.live = PredictWhilePainting(viewer, self)
        self.counter = StrokeCounter(parent=self)
        self.plot = TrainingPlot(viewer)
        self._lay_out()

        self.run_button.clicked.connect(self.run)
        self.revert_button.clicked.connect(self.revert)
        self.counter.counted.connect(self._fill_classes)
        self.form.labels.currentTextChanged.connect(self._watch_labels)
        viewer.dims.events.current_step.connect(self._on_dims)
        self._watch_labels()

    def _lay_out(self) -> None:
        buttons = QHBoxLayout()
        save = SettingsButton(self.saved_settings, self.status)
        for button in (self.run_button, self.cancel_button, self.revert_button, save):
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.form)
        layout.addWidget(self.classes)
        layout.addWidget(self.live)
        layout.addLayout(buttons)
        layout.addWidget(self.status)
        layout.addWidget(self.plot, 1)

    @property
    def busy(self) -> bool:
        return self.background.busy

    def showEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        """The model may have changed in another tab: show it, and its class names."""
        self._watch_labels()
        super().showEvent(event)

    # --- inputs ---------------------------------------------------------------------------

    def class_names(self) -> dict[int, str]:
        """Painted value -> class name, as shown (and edited) in the table."""
        return self.classes.class_names()

    def saved_settings(self) -> tuple[str, dict]:
        """``("finetune", options)`` for a settings file: the base, mode, budget, steps, device
        and the class names when the painted values run 2, 3, ... without a gap."""
        spec = self.choice.current()[0]
        if spec is None:
            raise BadInputError(NO_MODEL)
        names = self.class_names()
        contiguous = sorted(names) == list(range(2, 2 + len(names)))
        options = {
            "model": portable_name(spec),
            **self.form.options(),
            "device": self.choice.device(),
            "classes": [names[v] for v in sorted(names)] if names and contiguous else None,
        }
        return "finetune", options

    # --- running --------------------------------------------------------------------------

    def run(self) -> None:
        """Check the inputs, then fine-tune in the background; bad input gives a notification."""
        if self.busy:
            return
        if self.form.mode.currentData() == "instant":
            self.live.start()
            return
        spec, card = self.choice.current()
        try:
            if card is None:
                raise BadInputError(NO_MODEL)
            source = self.form.image.source(card)
            labels = self.form.labels_layer()
            check_labels(labels.data.shape, source.shape)
        except BadInputError as err:
            show_error(f"Bright-4B: {err}")
            return
        if source.note:
            show_warning(f"Bright-4B: {source.note}")
        self._start(FinetuneRun(source, labels, spec, default_output(card.name), current_z(self.viewer, source)), card)

    def _start(self, run: FinetuneRun, card: ModelCard) -> None:
        settings, names, device = self.form.settings(self.preview_every_s), self.class_names(), self.choice.device()
        data, strokes = run.source.in_memory(), np.asarray(run.labels.data)
        self._run = run
        self.revert_button.setEnabled(False)
        self.plot.clear()
        self.background.start(
            lambda _token: run.work(data, strokes, settings, names, device),  # Cancel goes to the run's own tokens
            f"Bright-4B: fine-tune {card.name}",
            f"Fine-tuning {card.name} on {run.labels.name}…",
            lambda outcome: self._on_result(run, *outcome),
            on_report=lambda item: self._on_report(run, *item),
            on_cancel=self.cancel,
            on_end=self._on_end,
        )

    def cancel(self) -> None:
        """End training and keep the best model so far; pressed again, skip the prediction."""
        if self._run is None:
            return
        self._run.cancel()
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

    def _on_report(self, run: FinetuneRun, report: Report | int, total: int | None) -> None:
        if not isinstance(report, Report):
            self.status.setText(f"Predicting the whole volume: tile {report} of {total}")
            return
        self.status.setText(report_status(report))
        if report.preview is not None:
            run.preview[report.preview.z] = report.preview.labels
            show_layers(self.viewer, preview_layers(run), run.tag)
        self.plot.add(report)

    def _on_result(self, run: FinetuneRun, result: FinetuneResult, prediction: Prediction | None) -> None:
        self._run = None  # it succeeded: its layers stay
        self.result, self.base = result, run.base
        show_layers(self.viewer, prediction_layers(run, prediction), run.tag)
        self.choice.select(str(result.path))
        self.status.setText(saved_status(result))
        self.revert_button.setEnabled(True)
        self.plot.draw_reports()

    def _on_end(self) -> None:
        """A run that failed or was stopped leaves no half-made preview behind."""
        if self._run is not None:
            show_layers(self.viewer, [], self._run.tag)
        self._run = None

    # --- keeping up with the viewer -------------------------------------------------------

    def _on_dims(self, *_) -> None:
        if self._run is not None and self.viewer.dims.ndim >= 3:
            self._run.z = current_z(self.viewer, self._run.source)

    def _show_base(self) -> ModelCard | None:
        _, card = self.choice.current()
        self.form.show_base(card)
        return card

    def _watch_labels(self, *_) -> None:
        """Follow the chosen Labels layer's painting to keep the class table current."""
        self._show_base()
        try:
            layer = self.form.labels_layer()
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
        name = self.form.labels.currentText()
        if name in self.viewer.layers and event.source is self.viewer.layers[name]:
            self.counter.request(event.source)

    def _fill_classes(self, layer: Labels | None, counts: np.ndarray | None = None) -> None:
        """The class table: a row per painted value of ``layer`` with its ``counts``."""
        if layer is not None and layer.name != self.form.labels.currentText():
            return  # a count of a layer no longer chosen
        card = self._show_base()
        self.classes.fill(layer, counts, card.head.class_names if card else ())
