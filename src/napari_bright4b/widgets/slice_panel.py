"""The Slices tab: per z-slice foreground fraction and mean confidence of each class, as a
plot that follows the viewer's z slider (click it to jump to a slice) and as a table to
copy or save as CSV."""

from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from napari.utils.notifications import show_error
from qtpy.QtWidgets import (
    QApplication,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..analysis.slices import SliceStats
from ..files import atomic_path
from ..layers.layer_data import class_color
from ..layers.shown import Shown
from .theme import style_axes, theme_colours


class SlicePanel(QWidget):
    """Shows the :class:`SliceStats` of the latest run; ``stats`` is ``None`` before one."""

    def __init__(self, viewer, parent: QWidget | None = None):
        super().__init__(parent)
        self.viewer = viewer
        self.stats: SliceStats | None = None
        self.title = QLabel("Run a segmentation or classification to see per-slice numbers.")
        self.title.setWordWrap(True)
        self.figure = Figure(figsize=(4, 3.6), layout="constrained")
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setMinimumHeight(260)
        self.fraction_axes, self.confidence_axes = self.figure.subplots(2, 1, sharex=True)
        self.markers = []
        self.table = QTableWidget()
        self.table.verticalHeader().setVisible(False)  # the first column is the slice
        self.copy_button = QPushButton("Copy table")
        self.copy_button.setToolTip("Copy the table, tab-separated, to paste into a spreadsheet")
        self.save_button = QPushButton("Save CSV…")
        for button in (self.copy_button, self.save_button):
            button.setEnabled(False)

        buttons = QHBoxLayout()
        buttons.addWidget(self.copy_button)
        buttons.addWidget(self.save_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(self.canvas, 2)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)

        self.copy_button.clicked.connect(self.copy)
        self.save_button.clicked.connect(self._save_dialog)
        self.canvas.mpl_connect("button_press_event", self._on_click)
        viewer.dims.events.current_step.connect(self._mark_current)
        viewer.events.theme.connect(lambda *_: self._draw())
        self._draw()

    @property
    def z_axis(self) -> int:
        """The viewer axis of the results' z (layers fill the viewer's last dimensions)."""
        return self.viewer.dims.ndim - 3

    def show_result(self, shown: Shown) -> None:
        self.stats = shown.stats
        name = f"{shown.source.name} · {shown.result.model}"
        self.title.setText(name if self.stats else f"{name}: a {shown.result.task} result has no per-class numbers.")
        self._draw()
        self._fill_table()
        for button in (self.copy_button, self.save_button):
            button.setEnabled(self.stats is not None)

    def current_slice(self) -> int | None:
        """The slice of the results that the viewer shows (nearest to its z position)."""
        if self.stats is None or self.viewer.dims.ndim < 3:
            return None
        return int(np.argmin(np.abs(self.stats.z_um - self.viewer.dims.point[self.z_axis])))

    def go_to_slice(self, z: int) -> None:
        """Move the viewer's z slider to slice ``z`` of the results."""
        self.viewer.dims.set_point(self.z_axis, float(self.stats.z_um[z]))

    def copy(self) -> None:
        QApplication.clipboard().setText(self.stats.to_csv(delimiter="\t"))

    def save_csv(self, path: str) -> None:
        try:
            with atomic_path(path) as tmp:
                tmp.write_text(self.stats.to_csv())
        except OSError as err:
            show_error(f"Bright-4B: could not write {path}: {err.strerror or err}")

    def _save_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save per-slice numbers", "slices.csv", "CSV (*.csv)")
        if path:
            self.save_csv(path)

    def _on_click(self, event) -> None:
        if self.stats is not None and event.xdata is not None:
            self.go_to_slice(int(np.clip(round(event.xdata), 0, self.stats.slices - 1)))

    def _draw(self) -> None:
        background, text = theme_colours(self.viewer)
        self.figure.set_facecolor(background)
        for axes, label in ((self.fraction_axes, "foreground fraction"), (self.confidence_axes, "mean confidence")):
            style_axes(axes, background, text, label)
        self.confidence_axes.set_xlabel("z slice", color=text)
        self.markers = []
        if self.stats is not None:
            z = np.arange(self.stats.slices)
            for k, name in enumerate(self.stats.names):
                color = class_color(k)[1]
                self.fraction_axes.plot(z, self.stats.fraction[k], color=color, label=name)
                self.confidence_axes.plot(z, self.stats.confidence[k], color=color)
            self.confidence_axes.set_ylim(0, 1.02)
            legend = self.fraction_axes.legend(fontsize="small", facecolor=background, edgecolor=text)
            for entry in legend.get_texts():
                entry.set_color(text)
            self.markers = [axes.axvline(0, color=text, linestyle="--") for axes in self.figure.axes]
        self._mark_current()

    def _mark_current(self, *_) -> None:
        z = self.current_slice()
        for marker in self.markers:
            marker.set_visible(z is not None)
            if z is not None:
                marker.set_xdata([z, z])
        self.canvas.draw_idle()

    def _fill_table(self) -> None:
        rows = self.stats.rows() if self.stats else [[]]
        self.table.clear()
        self.table.setColumnCount(len(rows[0]))
        self.table.setRowCount(len(rows) - 1)
        self.table.setHorizontalHeaderLabels([str(h) for h in rows[0]])
        for r, row in enumerate(rows[1:]):
            for c, value in enumerate(row):
                self.table.setItem(r, c, QTableWidgetItem(str(value)))
