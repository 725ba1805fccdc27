"""The Bright-4B dock: the Model, Run, Slices, Inside and Fine-tune tabs, sharing one model choice."""

from __future__ import annotations

from qtpy.QtWidgets import QTabWidget, QVBoxLayout, QWidget

from ..errors import BadInputError
from .finetune_panel import FinetunePanel
from .inspect_panel import InspectPanel
from .model_choice import model_panel_choice
from .model_panel import ModelPanel
from .run_panel import RunPanel
from .slice_panel import SlicePanel


class Bright4BWidget(QWidget):
    """One dock for a viewer: ``model`` (Model tab), ``runner`` (Run tab), ``slices`` (Slices tab),
    ``inside`` (Inside tab, with the Run tab's tile and overlap), ``finetune`` (Fine-tune tab)."""

    def __init__(self, napari_viewer, parent: QWidget | None = None):
        super().__init__(parent)
        self.viewer = napari_viewer
        self.model = ModelPanel()
        self.runner = RunPanel(napari_viewer, self.model)
        self.slices = SlicePanel(napari_viewer)
        self.inside = InspectPanel(napari_viewer, self.model, self._tiling)
        self.finetune = FinetunePanel(napari_viewer, model_panel_choice(self.model))
        self.tabs = QTabWidget()
        self.tabs.addTab(self.model, "Model")
        self.tabs.addTab(self.runner, "Run")
        self.tabs.addTab(self.slices, "Slices")
        self.tabs.addTab(self.inside, "Inside")
        self.tabs.addTab(self.finetune, "Fine-tune")
        QVBoxLayout(self).addWidget(self.tabs)
        self.runner.shown.connect(self.slices.show_result)
        self.runner.settings_changed.connect(self._estimate)
        self.model.model_changed.connect(self._estimate)
        self._estimate()

    def _estimate(self) -> None:
        """Refresh the Model tab's estimate for the Run tab's layer and options."""
        try:
            source = self.runner.source()
        except BadInputError as err:
            source = str(err)
        runner = self.runner
        self.model.update_estimate(
            source, runner.tile_size(), runner.overlap.value(), runner.view_count(), runner.labelling().instances
        )

    def _tiling(self) -> tuple[tuple[int, int, int], float]:
        """The Run tab's tile and overlap, which the Inside tab uses too."""
        return self.runner.tile_size(), self.runner.overlap.value()
