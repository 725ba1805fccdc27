"""The Inside tab: look inside the chosen Bright-4B model on an image layer. Routing entropy,
attention-path gates, expert usage, the dominant expert and PCA colours of token features
become layers aligned with the image; the expert-usage heatmap and the routing entropy per
layer are plotted in the tab; with a Labels layer of structures (outside, cytoplasm,
nuclei, nucleoli, mitochondria: the brightfield sample's ``structures (truth)``), so is the
expert usage per structure of the layer whose dominant expert tells the structures best.
Runs in a worker with progress and Cancel, like the Run tab."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from napari.layers import Labels
from napari.utils.notifications import show_error, show_warning
from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..analysis.inspection import Inspection, inspect_job
from ..analysis.plots import draw_expert_usage, draw_routing_entropy
from ..analysis.structure_usage import structure_usage, token_structures
from ..data.synthetic.colony import STRUCTURES
from ..errors import BadInputError
from ..inference.steps import progress_steps
from ..layers.inspection_layers import RUN, inspection_layers
from ..layers.layer_data import LayerInput
from .background import BackgroundRun
from .layer_picker import LayerPicker
from .layers import show_layers
from .model_panel import ModelPanel
from .theme import style_axes, theme_colours

Tiling = Callable[[], tuple[tuple[int, int, int], float]]
NO_STRUCTURES = "none"


@dataclass
class Inspected:
    """An inspection, its input, the layers made of it and, with structure labels, the
    expert usage per structure (:func:`~..analysis.structure_usage.structure_usage`)."""

    inspection: Inspection
    source: LayerInput
    layers: list[tuple]
    structures: dict | None = None


class InspectPanel(QWidget):
    """Inspects the model chosen in ``models`` on a layer of ``viewer``, with the tile and
    overlap that ``tiling()`` gives (the Run tab's); ``current`` is the latest :class:`Inspected`."""

    def __init__(self, viewer, models: ModelPanel, tiling: Tiling, parent: QWidget | None = None):
        super().__init__(parent)
        self.viewer, self.models, self.tiling = viewer, models, tiling
        self.current: Inspected | None = None
        self.layer = LayerPicker(viewer)
        self.pca_layers = QListWidget()
        self.pca_layers.setFlow(QListView.LeftToRight)
        self.pca_layers.setMaximumHeight(36)
        self.pca_layers.setToolTip("Transformer layers whose token features are shown as PCA colours")
        self.structures = QComboBox()
        self.structures.setToolTip(
            "A Labels layer of structures (0 outside, 1 cytoplasm, 2 nuclei, 3 nucleoli, 4 mitochondria): "
            "expert usage per structure"
        )
        self.inspect_button = QPushButton("Inspect")
        self.cancel_button = QPushButton("Cancel")
        self.status = QLabel("Tile and overlap as in the Run tab.")
        self.status.setWordWrap(True)
        self.background = BackgroundRun(self.inspect_button, self.cancel_button, self.status)
        self.title = QLabel()
        self.title.setWordWrap(True)
        self.figure = Figure(figsize=(4, 5.6), layout="constrained")
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setMinimumHeight(420)
        self.usage_axes, self.entropy_axes, self.structure_axes = self.figure.subplots(3, 1, height_ratios=(3, 2, 3))
        self._colorbar = None

        form = QFormLayout()
        form.addRow("Image layer", self.layer)
        form.addRow("PCA of layers", self.pca_layers)
        form.addRow("Structures", self.structures)
        buttons = QHBoxLayout()
        buttons.addWidget(self.inspect_button)
        buttons.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.status)
        layout.addWidget(self.title)
        layout.addWidget(self.canvas, 1)

        self.inspect_button.clicked.connect(self.inspect)
        viewer.layers.events.inserted.connect(self._list_structures)
        viewer.layers.events.removed.connect(self._list_structures)
        viewer.events.theme.connect(lambda *_: self._draw())
        self._list_structures()
        models.model_changed.connect(self._on_model)
        self._on_model()
        self._draw()

    @property
    def busy(self) -> bool:
        return self.background.busy

    def chosen_layers(self) -> list[int]:
        """The ticked transformer layers (1-based)."""
        items = [self.pca_layers.item(row) for row in range(self.pca_layers.count())]
        return [int(item.text()) for item in items if item.checkState() == Qt.Checked]

    def inspect(self) -> None:
        """Check the inputs, then inspect in a worker; bad input gives a notification."""
        if self.background.busy:
            return
        try:
            source = self.layer.source(self.models.card)
        except BadInputError as err:
            show_error(f"Bright-4B: {err}")
            return
        labels = self._structure_labels(source.shape)
        if source.note:
            show_warning(f"Bright-4B: {source.note}")
        tile, overlap = self.tiling()
        options = dict(device=self.models.device, pca_layers=self.chosen_layers(), tile=tile, overlap=overlap)
        spec, axis_labels = self.models.spec, tuple(getattr(self.layer.layer(), "axis_labels", "zyx"))[-3:]

        def work(token):
            volume, voxel_size = source.volume(), source.voxel_size
            inspection = yield from progress_steps(inspect_job, spec, volume, voxel_size, cancel=token, **options)
            per_structure = None
            if labels is not None:
                tokens = token_structures(labels, inspection.grid, len(STRUCTURES))
                per_structure = structure_usage(inspection, tokens, STRUCTURES)
            layers = inspection_layers(inspection, source, axis_labels)
            return Inspected(inspection, source, layers, per_structure)

        self.background.start(work, f"Bright-4B: inspect {source.name}", f"Inspecting {source.name}…", self._show)

    def _show(self, inspected: Inspected) -> None:
        self.current = inspected
        inspection, name = inspected.inspection, inspected.source.name
        self.status.setText(
            f"{inspection.model} on {name}: {inspection.tiles} tiles in {inspection.seconds:.1f} s on "
            f"{inspection.device}"
        )
        tokens = "x".join(map(str, inspection.grid.shape))
        size = " x ".join(f"{s:.3g}" for s in inspection.grid.placement()[0])
        self.title.setText(f"{name} · {inspection.model}: {tokens} tokens of {size} um")
        show_layers(self.viewer, inspected.layers, (name, inspection.model, RUN))
        self._draw()

    def _draw(self) -> None:
        if self._colorbar is not None:
            self._colorbar.remove()
            self._colorbar = None
        background, text = theme_colours(self.viewer)
        self.figure.set_facecolor(background)
        for axes in (self.usage_axes, self.entropy_axes, self.structure_axes):
            style_axes(axes, background, text, "")
        self.structure_axes.set_axis_off()
        if self.current is None:
            for axes in (self.usage_axes, self.entropy_axes):
                axes.set_axis_off()
            self.usage_axes.text(0.5, 0.5, "Inspect an image to see expert usage", ha="center", color=text)
        else:
            inspection = self.current.inspection
            for axes in (self.usage_axes, self.entropy_axes):
                axes.set_axis_on()
            image = draw_expert_usage(self.usage_axes, inspection.expert_usage, text)
            self._colorbar = self.figure.colorbar(image, ax=self.usage_axes)
            self._colorbar.ax.tick_params(colors=text)
            draw_routing_entropy(self.entropy_axes, inspection.mean_entropy, inspection.entropy_percentiles(), text)
            self._draw_structures(self.current.structures, text)
        self.canvas.draw_idle()

    def _draw_structures(self, report: dict | None, text: str) -> None:
        """Expert usage per structure in the layer with the most mutual information."""
        if report is None:
            return
        bits = [layer["mutual_information_bits"] for layer in report["layers"]]
        best = int(np.argmax(bits))
        usage = np.array([report["layers"][best]["usage"][name] for name in report["structures"]])
        self.structure_axes.set_axis_on()
        draw_expert_usage(self.structure_axes, usage, text, report["structures"], "structure")
        self.structure_axes.set_title(
            f"layer {best + 1}: expert tells structure {bits[best]:.2f} bits (the most of any layer)",
            color=text,
            fontsize="medium",
        )

    def _structure_labels(self, shape) -> np.ndarray | None:
        """The chosen structures layer's data; ``None`` for none, or with a warning when it is
        not on the image's grid ``shape``."""
        name = self.structures.currentText()
        if name not in self.viewer.layers:
            return None
        data = np.asarray(self.viewer.layers[name].data)
        if tuple(data.shape) != tuple(shape):
            show_warning(
                f"Bright-4B: the structures layer {name!r} {data.shape} is not on the image's grid {tuple(shape)}; "
                "inspecting without it"
            )
            return None
        return data

    def _list_structures(self, *_) -> None:
        """List 'none' and the viewer's Labels layers, keeping the choice (else one named
        'structures ...')."""
        current = self.structures.currentText()
        names = [layer.name for layer in self.viewer.layers if isinstance(layer, Labels)]
        self.structures.blockSignals(True)
        self.structures.clear()
        self.structures.addItems([NO_STRUCTURES, *names])
        preferred = [n for n in names if n.startswith("structures")]
        chosen = current if current in names else preferred[0] if preferred else NO_STRUCTURES
        self.structures.setCurrentText(chosen)
        self.structures.blockSignals(False)

    def _on_model(self) -> None:
        """List the model's transformer layers to pick for PCA; the decoder's taps are ticked."""
        card = self.models.card
        self.pca_layers.clear()
        if card is None:
            return
        for layer in range(1, card.config.depth + 1):
            item = QListWidgetItem(str(layer))
            item.setFlags(item.flags() | Qt.ItemIsUserCheckable)
            item.setCheckState(Qt.Checked if layer in card.config.taps else Qt.Unchecked)
            self.pca_layers.addItem(item)
