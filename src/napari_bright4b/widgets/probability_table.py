"""The Run tab's table of a classification's volume probabilities: a row per class."""

from __future__ import annotations

from qtpy.QtWidgets import QTableWidget, QTableWidgetItem


class ProbabilityTable(QTableWidget):
    """Shown only while the latest result has volume probabilities."""

    def __init__(self, parent=None):
        super().__init__(0, 2, parent)
        self.setHorizontalHeaderLabels(["class", "volume probability"])
        self.setVisible(False)

    def show_result(self, result) -> None:
        """The volume probabilities of ``result`` (a run's result), or none."""
        probabilities = result.volume_probabilities
        self.setVisible(probabilities is not None)
        if probabilities is not None:
            self.setRowCount(len(probabilities))
            for row, (name, p) in enumerate(zip(result.class_names, probabilities)):
                self.setItem(row, 0, QTableWidgetItem(name))
                self.setItem(row, 1, QTableWidgetItem(f"{p:.3f}"))
