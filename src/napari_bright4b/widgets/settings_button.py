"""**Save settings...**: a tab's options as a settings file that ``bright4b ... --settings``
reads (:mod:`..run_settings`), so a run set up in the viewer can be repeated headless."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from napari.utils.notifications import show_error
from qtpy.QtWidgets import QFileDialog, QPushButton

from ..errors import BadInputError
from ..run_settings import write_settings


class SettingsButton(QPushButton):
    """Saves ``settings()``, ``(task, options)``, to a JSON file the user picks."""

    def __init__(self, settings: Callable[[], tuple[str, dict]], status, parent=None):
        super().__init__("Save settings...", parent)
        self.settings, self.status = settings, status
        self.setToolTip("save these options as a JSON file for `bright4b <task> --settings FILE`")
        self.clicked.connect(self.choose)

    def choose(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save settings", "bright4b-settings.json", "JSON (*.json)")
        if path:
            self.save(Path(path))

    def save(self, path: Path) -> Path | None:
        """Write the settings to ``path``; the status line says where, or why not."""
        try:
            task, options = self.settings()
            written = write_settings(path, task, options)
        except (BadInputError, OSError) as err:  # no model chosen, a bad value, a disk error
            show_error(f"Bright-4B: settings not saved: {err}")
            return None
        self.status.setText(f"Settings saved to {written}: use them with `bright4b {task} IMAGE --settings {written}`")
        return written
