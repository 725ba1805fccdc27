"""Long work in a napari generator worker: progress in the dock and in napari's activity dock,
Cancel, and one outcome handed back to the GUI thread."""

from __future__ import annotations

from collections.abc import Callable, Generator

from napari.qt.threading import create_worker
from napari.utils import progress
from napari.utils.notifications import show_error

from ..errors import BadInputError, Cancelled, OutOfMemory
from ..inference.engine import CancelToken

CANCELLED = "Cancelled: no layers were added."
EXPECTED = (BadInputError, OutOfMemory)  # shown as one line; anything else is a bug, shown with its traceback

Work = Callable[[CancelToken], Generator[tuple[int, int], None, object]]


def _outcome(work: Work, token: CancelToken):
    """``work``'s result, ``None`` when cancelled, or the message of an expected failure (a
    returned exception would be raised again by the worker)."""
    try:
        return (yield from work(token))
    except Cancelled:
        return None
    except EXPECTED as err:
        return str(err)


class BackgroundRun:
    """Runs one piece of work at a time for a panel: ``run_button`` is disabled and
    ``cancel_button`` enabled while it runs, ``status`` shows its progress and outcome."""

    def __init__(self, run_button, cancel_button, status):
        self.run_button, self.cancel_button, self.status = run_button, cancel_button, status
        self._worker = self._token = self._bar = None
        self._unit = "tile"
        cancel_button.setEnabled(False)
        cancel_button.clicked.connect(self.cancel)

    @property
    def busy(self) -> bool:
        return self._worker is not None

    def start(
        self, work: Work, description: str, message: str, on_result: Callable[[object], None], unit: str = "tile"
    ) -> None:
        """Run ``work(cancel_token)``, a generator of ``(done, total)`` reports (counted in
        ``unit``s) that returns a result, in a worker; ``on_result(result)`` runs on the GUI
        thread when it succeeds."""
        self._token = token = CancelToken()
        self._unit = unit
        self._bar = progress(total=0, desc=description)
        self._worker = create_worker(_outcome, work, token, _start_thread=False, _ignore_errors=True)
        self._worker.yielded.connect(self._on_progress)
        self._worker.returned.connect(lambda outcome: self._on_returned(outcome, on_result))
        self._worker.aborted.connect(token.cancel)  # e.g. cancelled from the activity dock
        self._worker.finished.connect(self._on_finished)
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.status.setText(message)
        self._worker.start()

    def cancel(self) -> None:
        """Stop the work before its next tile; nothing of it is shown."""
        if self._worker is not None:
            self._token.cancel()
            self._worker.quit()

    def _on_progress(self, report: tuple[int, int]) -> None:
        if self._bar is None:  # the work has already ended
            return
        done, total = report
        self.status.setText(f"Running: {self._unit} {done} of {total}")
        self._bar.total = total
        self._bar.update(done - self._bar.n)  # napari's bar processes events: a later signal may run here

    def _on_returned(self, outcome, on_result: Callable[[object], None]) -> None:
        bar, self._bar = self._bar, None  # no progress after the outcome
        if outcome is None:
            self.status.setText(CANCELLED)
        elif isinstance(outcome, str):
            self.status.setText(f"Failed: {outcome}")
            show_error(f"Bright-4B: {outcome}")
        else:
            on_result(outcome)
        if bar is not None:
            bar.close()

    def _on_finished(self) -> None:
        if self._bar is not None:  # nothing was returned: the worker was aborted
            self.status.setText(CANCELLED)
            self._bar.close()
            self._bar = None
        self._worker = None
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
