"""The Fine-tune tab's class table: one row per painted value (its colour, its class name,
editable but for the background, and its painted voxels)."""

from __future__ import annotations

import numpy as np
from qtpy.QtCore import Qt
from qtpy.QtGui import QColor
from qtpy.QtWidgets import QTableWidget, QTableWidgetItem

from ..training.finetune.painted import BACKGROUND, default_names


class ClassTable(QTableWidget):
    """Names typed by the user are kept when the table is filled again."""

    def __init__(self, parent=None):
        super().__init__(0, 3, parent)
        self.setHorizontalHeaderLabels(["label", "class", "painted voxels"])
        self.verticalHeader().setVisible(False)
        self.setMaximumHeight(140)
        self._names: dict[int, str] = {}  # painted value -> the name the user typed
        self.itemChanged.connect(self._on_name)

    def class_names(self) -> dict[int, str]:
        """Painted value -> class name, as shown (and edited), background left out."""
        rows = ((int(self.item(r, 0).text()), self.item(r, 1).text()) for r in range(self.rowCount()))
        return {value: name for value, name in rows if value != BACKGROUND}

    def fill(self, layer, counts: np.ndarray | None, base_names) -> None:
        """A row per value painted in ``layer`` (``counts[v]`` voxels); unnamed classes take the
        base model's ``base_names``. ``layer=None`` empties the table."""
        counts = counts if layer is not None else np.zeros(1, np.int64)
        values = [v for v in np.flatnonzero(counts).tolist() if v > 0]
        self.blockSignals(True)
        self.setRowCount(len(values))
        for row, value in enumerate(values):
            name = "background" if value == BACKGROUND else self._names.get(value) or default_names(base_names, value)
            cells = [QTableWidgetItem(str(value)), QTableWidgetItem(name), QTableWidgetItem(f"{counts[value]:,}")]
            for column, cell in enumerate(cells):
                if column != 1 or value == BACKGROUND:
                    cell.setFlags(cell.flags() & ~Qt.ItemIsEditable)
                self.setItem(row, column, cell)
            color = layer.get_color(value)
            if color is not None:
                self.item(row, 0).setBackground(QColor.fromRgbF(*(float(c) for c in color)))
        self.blockSignals(False)

    def _on_name(self, item: QTableWidgetItem) -> None:
        if item.column() == 1:
            self._names[int(self.item(item.row(), 0).text())] = item.text().strip()
