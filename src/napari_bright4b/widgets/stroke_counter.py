"""Voxels per painted value of a Labels layer, counted in a worker after painting pauses, so
that painting a large volume never waits for a count on the GUI thread."""

from __future__ import annotations

import numpy as np
from napari.qt.threading import create_worker
from qtpy.QtCore import QObject, QTimer, Signal


def _count(data) -> np.ndarray:
    return np.bincount(np.asarray(data).ravel())


class StrokeCounter(QObject):
    """``request(layer)`` schedules a count ``delay_ms`` after the last request; ``counted``
    fires with ``(layer, counts)`` (``counts[v]``: voxels painted ``v``). A request during a
    count starts another when it ends."""

    counted = Signal(object, object)

    def __init__(self, delay_ms: int = 250, parent: QObject | None = None):
        super().__init__(parent)
        self._layer = self._counting = self._worker = None
        self._again = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(delay_ms)
        self._timer.timeout.connect(self._start)

    @property
    def busy(self) -> bool:
        return self._worker is not None or self._timer.isActive()

    def request(self, layer) -> None:
        self._layer = layer
        self._timer.start()

    def _start(self) -> None:
        if self._worker is not None:
            self._again = True
            return
        self._counting = self._layer
        self._worker = create_worker(_count, self._counting.data, _start_thread=False)
        self._worker.returned.connect(self._emit)  # a bound slot: gone with this object
        self._worker.finished.connect(self._done)
        self._worker.start()

    def _emit(self, counts: np.ndarray) -> None:
        self.counted.emit(self._counting, counts)

    def _done(self) -> None:
        self._worker = None
        if self._again:
            self._again = False
            self._start()
