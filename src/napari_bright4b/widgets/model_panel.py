"""The Model tab: pick a model (bundled, user folder or a file), read its card, pick a device,
and see what a run on the selected layer will cost."""

from __future__ import annotations

import html
from pathlib import Path

import torch
from napari.qt.threading import create_worker
from napari.utils.notifications import show_error
from qtpy.QtCore import Qt, Signal
from qtpy.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from ..errors import BadInputError
from ..inference.estimate import TileCost, estimate_run
from ..inference.job import time_tile
from ..layers.card_summary import card_rows
from ..layers.layer_data import LayerInput
from ..models.card import ModelCard
from ..models.device import resolve_device
from ..models.registry import list_models, resolve


def device_options() -> list[str]:
    """auto, each CUDA device (``cuda`` when there is none, to show the fallback), MPS, CPU."""
    cuda = [f"cuda:{i}" for i in range(torch.cuda.device_count())] or ["cuda"]
    return ["auto", *cuda, "mps", "cpu"]


class ModelPanel(QWidget):
    """``spec`` (the checkpoint path), ``card`` and ``device`` (a device spec) of the chosen
    model; ``model_changed`` fires when any of them changes."""

    model_changed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.models = QComboBox()
        self.open_button = QPushButton("Open file…")
        self.card_view = QTextBrowser()
        self.devices = QComboBox()
        self.devices.addItems(device_options())
        self.device_note = QLabel()
        self.device_note.setWordWrap(True)
        self.estimate = QLabel("Select an image layer in the Run tab for an estimate.")
        self.estimate.setWordWrap(True)
        self.time_button = QPushButton("Time one tile")
        self.time_button.setToolTip("Run one tile on the chosen device to estimate the run time")
        self._cards: dict[str, ModelCard] = {}  # spec -> card
        self._costs: dict[tuple, TileCost] = {}  # (spec, device, tile) -> measured cost
        self._estimate_args: tuple | None = None

        pick = QHBoxLayout()
        pick.addWidget(self.models, 1)
        pick.addWidget(self.open_button)
        form = QFormLayout()
        form.addRow("Device", self.devices)
        form.addRow("", self.device_note)
        form.addRow("Estimate", self.estimate)
        form.addRow("", self.time_button)
        layout = QVBoxLayout(self)
        layout.addLayout(pick)
        layout.addWidget(self.card_view, 1)
        layout.addLayout(form)

        entries = list_models()
        for entry in entries:
            self._add_entry(entry.name, entry.source, entry.path, entry.card, entry.error)
        readable = [i for i, e in enumerate(entries) if e.card is not None]
        segment = [i for i in readable if entries[i].card.head.task == "segment"]
        self.models.setCurrentIndex((segment or readable or [0])[0])  # segmentation first: the main job
        self.models.currentIndexChanged.connect(self._on_model)
        self.devices.currentTextChanged.connect(self._on_device)
        self.open_button.clicked.connect(self._open_file)
        self.time_button.clicked.connect(self._time_tile)
        self._on_model()
        self._on_device()

    @property
    def spec(self) -> str | None:
        return self.models.currentData()

    @property
    def card(self) -> ModelCard | None:
        return self._cards.get(self.spec)

    @property
    def device(self) -> str:
        return self.devices.currentText()

    def add_model_file(self, path: str | Path) -> None:
        """Add a ``.safetensors`` checkpoint to the list and select it; a bad file is refused
        with a notification."""
        try:
            entry = resolve(Path(path), allow_presets=False)
        except BadInputError as err:
            show_error(f"Bright-4B: {err}")
            return
        self._add_entry(entry.name, "file", entry.path, entry.card)
        self.models.setCurrentIndex(self.models.count() - 1)

    def learn_tile_time(self, tile: tuple, seconds: float) -> None:
        """Remember the seconds per tile a run took, for the next estimate."""
        self._costs[(self.spec, self.device, tuple(tile))] = TileCost(seconds)
        self._show_estimate()

    def update_estimate(
        self, source: LayerInput | str, tile: tuple, overlap: float, views: int, instances: bool
    ) -> None:
        """Estimate a run on ``source`` (or show why it cannot run: a one-line reason)."""
        self._estimate_args = (source, tuple(tile), overlap, views, instances)
        self._show_estimate()

    def _add_entry(self, name: str, source: str, path, card: ModelCard | None, error: str | None = None) -> None:
        self.models.addItem(f"{name} ({source})", str(path))
        index = self.models.count() - 1
        if card is not None:
            self._cards[str(path)] = card
        else:  # listed, so the user sees why it cannot be chosen
            self.models.model().item(index).setEnabled(False)
            self.models.setItemData(index, error, Qt.ToolTipRole)

    def _on_model(self) -> None:
        card = self.card
        rows = card_rows(card) if card else [("", "No readable model: add one with Open file…")]
        cells = "".join(
            f"<tr><td><b>{html.escape(k)}</b></td><td>{html.escape(v)}</td></tr>" for k, v in rows if k or v
        )
        title = html.escape(card.name) if card else ""
        self.card_view.setHtml(f"<h3>{title}</h3><table cellspacing='4'>{cells}</table>")
        self._show_estimate()
        self.model_changed.emit()

    def _on_device(self) -> None:
        choice = resolve_device(self.device)
        self.device_note.setText(f"runs on {choice.device}" + (f": {choice.note}" if choice.note else ""))
        self._show_estimate()
        self.model_changed.emit()

    def _open_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a Bright-4B model", "", "Checkpoints (*.safetensors)")
        if path:
            self.add_model_file(path)

    def _show_estimate(self) -> None:
        if self._estimate_args is None or self.card is None:
            return
        source, tile, overlap, views, instances = self._estimate_args
        if isinstance(source, str):
            self.estimate.setText(source)
            return
        cost = self._costs.get((self.spec, self.device, tile))
        estimate = estimate_run(
            source.shape,
            source.voxel_size,
            self.card,
            tile,
            overlap,
            views=views,
            instances=instances,
            seconds_per_tile=cost.seconds if cost else None,
            measured_tile_bytes=cost.device_bytes if cost else None,
        )
        self.estimate.setText(f"{source.name}: {estimate.describe()}")

    def _time_tile(self) -> None:
        if self._estimate_args is None or self.spec is None:
            return
        key = (self.spec, self.device, self._estimate_args[1])
        worker = create_worker(time_tile, *key, _start_thread=False, _ignore_errors=True)
        worker.returned.connect(lambda cost: self._timed(key, cost))
        worker.finished.connect(lambda: self.time_button.setEnabled(True))
        self.time_button.setEnabled(False)
        worker.start()

    def _timed(self, key: tuple, cost: TileCost) -> None:
        self._costs[key] = cost
        self._show_estimate()
