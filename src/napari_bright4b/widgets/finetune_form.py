"""The Fine-tune tab's form: the image, the Labels layer painted with strokes (or a new one),
the base model, and the options of a fine-tune (mode, time budget, steps, adaptation)."""

from __future__ import annotations

import numpy as np
from napari.layers import Labels
from napari.utils.notifications import show_error
from qtpy.QtWidgets import QComboBox, QDoubleSpinBox, QFormLayout, QHBoxLayout, QLabel, QPushButton, QSpinBox, QWidget

from ..errors import BadInputError
from ..models.card import ModelCard
from ..training.finetune import FinetuneSettings
from ..training.finetune.modes import DEFAULT_MODE
from ..training.finetune.painted import BACKGROUND
from .layer_picker import LayerPicker

NO_STROKES = "no Labels layer to learn from: add one with New and paint background (1) and classes"
MODES = {
    "instant": "instant classifier on features (seconds)",
    "full": "all weights",
    "adapter": "low-rank adapters + head",
    "head": "head only",
}


def paintable(layer) -> bool:
    """A 3D Labels layer that is not one of the plugin's results."""
    return layer.ndim == 3 and layer.metadata.get("bright4b") is None


class FinetuneForm(QWidget):
    """The rows of the tab's form, on layers of ``viewer``."""

    def __init__(self, viewer, parent: QWidget | None = None):
        super().__init__(parent)
        self.viewer = viewer
        self.image = LayerPicker(viewer)
        self.labels = LayerPicker(viewer, kinds=(Labels,), preferred=Labels, accept=paintable, missing=NO_STROKES)
        self.new_labels = QPushButton("New")
        self.new_labels.setToolTip("Add an empty Labels layer on the image's grid to paint on")
        self.new_labels.clicked.connect(self.add_labels_layer)
        self.base_note = QLabel()
        self.base_note.setWordWrap(True)
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
        self.adapt = QDoubleSpinBox()
        self.adapt.setRange(0, 600)
        self.adapt.setSuffix(" s")
        self.adapt.setSpecialValueText("off")
        self.adapt.setToolTip(
            "Deep modes: first train this long on the whole image, unlabeled (masked reconstruction), "
            "so the network learns your microscope before your strokes; the time budget starts after it"
        )

        labels_row = QHBoxLayout()
        labels_row.addWidget(self.labels, 1)
        labels_row.addWidget(self.new_labels)
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Image layer", self.image)
        form.addRow("Painted labels", labels_row)
        form.addRow("Base model", self.base_note)
        form.addRow("Mode", self.mode)
        form.addRow("Time budget", self.budget)
        form.addRow("Steps", self.steps)
        form.addRow("Learn the image first", self.adapt)

    def labels_layer(self) -> Labels:
        """The chosen Labels layer (raises :class:`BadInputError` when there is none)."""
        return self.labels.layer()

    def show_base(self, card: ModelCard | None) -> None:
        self.base_note.setText(card.name if card else "none: pick a segmentation model in the Model tab")

    def settings(self, preview_every_s: float) -> FinetuneSettings:
        return FinetuneSettings(
            mode=self.mode.currentData(),
            time_budget_s=self.budget.value(),
            steps=self.steps.value() or None,
            adapt_s=self.adapt.value(),
            preview_every_s=preview_every_s,
        )

    def options(self) -> dict:
        """The mode, and for a deep mode the time budget, steps and adaptation, as a settings
        file names them (the command line refuses deep options with the instant mode)."""
        mode = self.mode.currentData()
        if mode == "instant":
            return {"mode": mode}
        steps, adapt = self.steps.value() or None, self.adapt.value() or None
        return {"mode": mode, "time_budget": self.budget.value(), "steps": steps, "adapt": adapt}

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
