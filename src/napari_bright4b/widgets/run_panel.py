"""The Run tab: pick the image layer, the task and the engine's options, run the model in a
generator worker (progress in the activity dock, Cancel), and show the results as layers.

Thresholds and instance options can be changed after a run: labels are made again from
the kept probabilities, in a worker, without running the model.
"""

from __future__ import annotations

from napari.qt.threading import create_worker
from napari.utils.notifications import show_error, show_warning
from qtpy.QtCore import Qt, Signal
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..errors import BadInputError
from ..inference.job import Labelling, labelling_settings, relabel, run_job
from ..inference.predict import model_tile
from ..inference.steps import progress_steps
from ..layers.layer_data import LayerInput
from ..layers.shown import Shown, present
from ..models.card import VIEW_COUNTS
from ..models.registry import portable_name
from .background import BackgroundRun
from .folder_run import FolderRun
from .layer_picker import LayerPicker
from .layers import PREDICT, show_layers
from .model_panel import ModelPanel
from .probability_table import ProbabilityTable
from .psf_sigma import PsfSigma
from .settings_button import SettingsButton

AUTOMATIC = "the model's cut per class (Otsu where it has none)"


class RunPanel(QWidget):
    """Runs the model chosen in ``models`` on a layer of ``viewer``. ``shown`` fires with a
    :class:`Shown` after each run or relabelling; ``settings_changed`` when the layer or an
    option the estimate depends on changes."""

    shown = Signal(object)
    settings_changed = Signal()

    def __init__(self, viewer, models: ModelPanel, parent: QWidget | None = None):
        super().__init__(parent)
        self.viewer, self.models = viewer, models
        self.current: Shown | None = None
        self._relabel_worker = None
        self._relabel_again = False

        self.layer = LayerPicker(viewer)
        self.task = QComboBox()
        self.run_button = QPushButton("Run")
        self.cancel_button = QPushButton("Cancel")
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.background = BackgroundRun(self.run_button, self.cancel_button, self.status)
        self.folder = FolderRun(self)
        self.probabilities = ProbabilityTable()
        form = QFormLayout()
        form.addRow("Image layer", self.layer)
        form.addRow("Task", self.task)
        self.psf_sigma = PsfSigma()
        form.addRow("PSF sigma (z, y, x)", self.psf_sigma)
        self._add_tiling(form)
        self._add_labelling(form)
        self._lay_out(form)

        self.run_button.clicked.connect(self.run)
        self.layer.currentTextChanged.connect(self.settings_changed)
        models.model_changed.connect(self._on_model)
        self._on_model()

    def _add_tiling(self, form: QFormLayout) -> None:
        """The engine's tile, overlap and views."""
        self.tile = [QSpinBox() for _ in range(3)]
        tile_row = QHBoxLayout()
        for box in self.tile:
            box.setRange(1, 4096)
            tile_row.addWidget(box)
        self.overlap = QDoubleSpinBox()
        self.overlap.setRange(0.0, 0.75)
        self.overlap.setSingleStep(0.05)
        self.overlap.setValue(0.25)
        self.views = QComboBox()
        self.views.addItems([str(n) for n in VIEW_COUNTS])
        self.views.setToolTip(
            "average each tile over this many y-x mirrors and quarter turns: smoother, slightly better "
            "results for that many times the time (set to the model's own choice when a model is picked)"
        )
        form.addRow("Tile (z, y, x)", tile_row)
        form.addRow("Overlap", self.overlap)
        form.addRow("Views", self.views)
        for widget in (*self.tile, self.overlap):
            widget.valueChanged.connect(self.settings_changed)
        self.views.currentIndexChanged.connect(self.settings_changed)

    def _add_labelling(self, form: QFormLayout) -> None:
        """The threshold and the labels made from the probabilities; changed, they relabel."""
        self.automatic = QCheckBox("Auto")
        self.automatic.setToolTip("the model's own cut per class, chosen on its training data; Otsu where it has none")
        self.automatic.setChecked(True)
        self.threshold = QSlider(Qt.Horizontal)
        self.threshold.setRange(1, 99)
        self.threshold.setValue(50)
        self.threshold.setTracking(False)  # re-threshold when the slider is released
        self.threshold_note = QLabel(AUTOMATIC)
        self.threshold_note.setWordWrap(True)
        self.instances = QCheckBox("instance labels")
        self.split = QCheckBox("split touching objects (watershed)")
        self.radius = QDoubleSpinBox()
        self.radius.setRange(0.1, 100.0)
        self.radius.setValue(2.0)
        self.radius.setSuffix(" um")
        threshold_row = QHBoxLayout()
        threshold_row.addWidget(self.automatic)
        threshold_row.addWidget(self.threshold, 1)
        form.addRow("Threshold", threshold_row)
        form.addRow("", self.threshold_note)
        form.addRow("Labels", self.instances)
        form.addRow("", self.split)
        form.addRow("Smallest radius", self.radius)
        self.threshold.valueChanged.connect(self._on_threshold)
        self.threshold.sliderMoved.connect(lambda value: self.threshold_note.setText(f"{value / 100:.2f} on release"))
        for box in (self.automatic, self.instances, self.split):
            box.toggled.connect(self._relabel)
        self.radius.editingFinished.connect(self._relabel)
        self.instances.toggled.connect(self.settings_changed)

    def _lay_out(self, form: QFormLayout) -> None:
        buttons = QHBoxLayout()
        for button in (
            self.run_button,
            self.cancel_button,
            self.folder.button,
            SettingsButton(self.settings, self.status),
        ):
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.status)
        layout.addWidget(self.probabilities)
        layout.addStretch(1)

    @property
    def busy(self) -> bool:
        """A run or a relabelling is under way."""
        return self.background.busy or self._relabel_worker is not None

    # --- inputs -------------------------------------------------------------------------

    def labelling(self) -> Labelling:
        threshold = "model" if self.automatic.isChecked() else self.threshold.value() / 100
        split = self.split.isChecked()
        return Labelling(threshold, self.instances.isChecked() or split, split, self.radius.value())

    def view_count(self) -> int:
        """Symmetric views averaged per tile (:mod:`..inference.views`)."""
        return int(self.views.currentText())

    def tile_size(self) -> tuple[int, int, int]:
        return tuple(box.value() for box in self.tile)

    def run_options(self) -> dict:
        """The options of :func:`~..inference.job.run_job` that this tab sets."""
        tile, views = self.tile_size(), self.view_count()
        engine = dict(device=self.models.device, tile=tile, overlap=self.overlap.value(), views=views)
        return {**engine, **self.psf_sigma.options(self.models.card), "labelling": self.labelling()}

    def settings(self) -> tuple[str, dict]:
        """``(task, options)`` for a settings file (:mod:`..run_settings`)."""
        if self.models.card is None:
            raise BadInputError("no model is selected; pick one in the Model tab")
        options = self.run_options()
        task = self.models.card.head.task
        extra = labelling_settings(options.pop("labelling")) if task == "segment" else {}
        return task, {"model": portable_name(self.models.spec), **options, **extra}

    def source(self) -> LayerInput:
        """The chosen layer, checked (raises :class:`BadInputError` with the reason)."""
        return self.layer.source(self.models.card)

    # --- running ------------------------------------------------------------------------

    def run(self) -> None:
        """Check the inputs, then run the model in a worker; bad input gives a notification."""
        if self.background.busy:
            return
        try:
            source = self.source()
        except BadInputError as err:
            show_error(f"Bright-4B: {err}")
            return
        if source.note:
            show_warning(f"Bright-4B: {source.note}")
        spec, options = self.models.spec, self.run_options()
        tile, views = options["tile"], options["views"]

        def work(token):
            volume = source.volume()
            result = yield from progress_steps(run_job, spec, volume, source.voxel_size, cancel=token, **options)
            return present(result, source)

        self.background.start(
            work,
            f"Bright-4B: {self.task.currentText()} {source.name}",
            f"Running {self.models.card.name} on {source.name}…",
            lambda shown: self._on_result(shown, tile, views),
        )

    def _on_result(self, shown: Shown, tile: tuple, views: int) -> None:
        result = shown.result
        self.models.learn_tile_time(tile, result.seconds / max(result.tiles * views, 1))
        self.status.setText(
            f"{result.model} on {shown.source.name}: {result.tiles} tiles in {result.seconds:.1f} s on {result.device}"
        )
        self._show(shown)

    def _show(self, shown: Shown) -> None:
        self.current = shown
        show_layers(self.viewer, shown.layers, (shown.source.name, shown.result.model, PREDICT))
        cuts = [(s.name, s.cut) for s in shown.result.structures if s.cut is not None]
        if cuts and self.automatic.isChecked():
            self.threshold_note.setText("Auto: " + ", ".join(f"{n} {c:.2f}" for n, c in cuts))
        self.probabilities.show_result(shown.result)
        self.shown.emit(shown)

    # --- relabelling ----------------------------------------------------------------------

    def _on_threshold(self, value: int) -> None:
        self.threshold_note.setText(f"{value / 100:.2f} for every class")
        if self.automatic.isChecked():
            self.automatic.setChecked(False)  # toggling relabels
        else:
            self._relabel()

    def _relabel(self, *_) -> None:
        """Labels again from the kept probabilities with the current options (no model run)."""
        if self.automatic.isChecked():
            self.threshold_note.setText(AUTOMATIC)
        if self.current is None or self.current.result.task != "segment":
            return
        if self._relabel_worker is not None:
            self._relabel_again = True
            return
        shown, labelling = self.current, self.labelling()

        def work() -> Shown:
            return present(relabel(shown.result, labelling), shown.source)

        self._relabel_worker = create_worker(work, _start_thread=False, _ignore_errors=True)
        self._relabel_worker.returned.connect(self._show)
        self._relabel_worker.finished.connect(self._relabelled)
        self._relabel_worker.start()

    def _relabelled(self) -> None:
        self._relabel_worker = None
        if self._relabel_again:
            self._relabel_again = False
            self._relabel()

    # --- keeping up with the model and the viewer ----------------------------------------

    def _on_model(self) -> None:
        card = self.models.card
        self.task.clear()
        if card is None:
            return
        self.task.addItem(card.head.task)  # one head per model today; the list is the model's tasks
        for box, size, step in zip(self.tile, model_tile(card), card.config.spatial_multiple):
            box.blockSignals(True)
            box.setSingleStep(step)
            box.setValue(size)
            box.blockSignals(False)
        self.views.blockSignals(True)
        self.views.setCurrentText(str(card.views))
        self.views.blockSignals(False)
        segment = card.head.task == "segment"
        exclusive = segment and card.head.activation == "softmax"
        self.threshold_note.setText("most probable class" if exclusive else AUTOMATIC if segment else "")
        for widget in (self.automatic, self.threshold):
            widget.setEnabled(segment and not exclusive)
        for widget in (self.instances, self.split, self.radius):
            widget.setEnabled(segment)
        self.psf_sigma.setEnabled(bool(card.deconvolution))
        self.settings_changed.emit()
