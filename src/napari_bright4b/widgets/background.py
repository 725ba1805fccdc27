"""Long work in a napari generator worker: progress in the dock and in napari's activity dock,
Cancel, and one outcome handed back to the GUI thread. The Run, Inside and Fine-tune tabs and
Run on folder all run their work here."""

from __future__ import annotations

from collections.abc import Callable, Generator

from napari.qt.threading import create_worker
from napari.utils import progress
from napari.utils.notifications import show_error

from ..errors import BadInputError, Cancelled, OutOfMemory
from ..inference.engine import CancelToken

CANCELLED = "Cancelled: no layers were added."
EXPECTED = (BadInputError, OutOfMemory)  # shown as one line; anything else is a bug, shown with its traceback

Work = Callable[[CancelToken], Generator[object, None, object]]


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
        self._worker = self._token = self._bar = self._on_report = self._on_cancel = self._on_end = None
        self._unit = "tile"
        cancel_button.setEnabled(False)
        cancel_button.clicked.connect(self.cancel)

    @property
    def busy(self) -> bool:
        return self._worker is not None

    def start(
        self,
        work: Work,
        description: str,
        message: str,
        on_result: Callable[[object], None],
        unit: str = "tile",
        *,
        on_report: Callable[[object], None] | None = None,
        on_cancel: Callable[[], None] | None = None,
        on_end: Callable[[], None] | None = None,
    ) -> None:
        """Run ``work(cancel_token)``, a generator of ``(done, total)`` reports (counted in
        ``unit``s) that returns a result, in a worker; ``on_result(result)`` runs on the GUI
        thread when it succeeds.

        For work with reports of its own, ``on_report(report)`` shows each of them instead
        (the activity dock's bar then just shows that it runs); for work that winds down by
        itself and keeps what it has so far, Cancel calls ``on_cancel()`` instead of stopping
        it; ``on_end()`` runs once the worker has ended, whatever the outcome."""
        self._token = token = CancelToken()
        self._unit = unit
        self._on_report, self._on_cancel, self._on_end = on_report, on_cancel, on_end
        self._bar = progress(total=0, desc=description)
        self._worker = create_worker(_outcome, work, token, _start_thread=False, _ignore_errors=True)
        self._worker.yielded.connect(self._on_progress)
        self._worker.returned.connect(lambda outcome: self._on_returned(outcome, on_result))
        self._worker.errored.connect(self._on_error)
        self._worker.aborted.connect(token.cancel)  # e.g. cancelled from the activity dock
        self._worker.finished.connect(self._on_finished)
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.status.setText(message)
        self._worker.start()

    def cancel(self) -> None:
        """Stop the work before its next tile, and nothing of it is shown (or call the
        work's own ``on_cancel``)."""
        if self._worker is None:
            return
        if self._on_cancel is not None:
            self._on_cancel()
            return
        self._token.cancel()
        self._worker.quit()

    def _on_progress(self, report) -> None:
        if self._bar is None:  # the work has already ended
            return
        if self._on_report is not None:
            self._on_report(report)
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

    def _on_error(self, err: Exception) -> None:
        """An unexpected failure is a bug: said in the status line, and raised again for napari
        to show with its traceback."""
        bar, self._bar = self._bar, None
        self.status.setText(f"Failed: {err}")
        if bar is not None:
            bar.close()
        raise err

    def _on_finished(self) -> None:
        if self._bar is not None:  # nothing was returned: the worker was aborted
            self.status.setText(CANCELLED)
            self._bar.close()
            self._bar = None
        self._worker = None
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        on_end, self._on_report, self._on_cancel, self._on_end = self._on_end, None, None, None
        if on_end is not None:
            on_end()
