import threading

import pytest

from napari_bright4b.errors import Cancelled
from napari_bright4b.inference.engine import CancelToken
from napari_bright4b.inference.steps import progress_steps


def tiles(count, *, progress, cancel, gate=None):
    """A stand-in for the engine: checks ``cancel`` before each tile, reports after it."""
    for done in range(1, count + 1):
        if cancel.cancelled:
            raise Cancelled("cancelled")
        if gate is not None:
            gate.wait(5)
        progress(done, count)
    return "finished"


def test_reports_are_yielded_in_order_and_the_result_is_returned():
    steps = progress_steps(tiles, 3, cancel=CancelToken())
    reports = []
    with pytest.raises(StopIteration) as stop:
        while True:
            reports.append(next(steps))
    assert reports == [(1, 3), (2, 3), (3, 3)]
    assert stop.value.value == "finished"


def test_the_calls_exception_is_raised_in_the_consumer():
    def broken(*, progress, cancel):
        progress(1, 2)
        raise ValueError("bad tile")

    steps = progress_steps(broken, cancel=CancelToken())
    assert next(steps) == (1, 2)
    with pytest.raises(ValueError, match="bad tile"):
        next(steps)


def test_closing_the_generator_cancels_the_call_before_its_next_tile():
    token, gate, outcome = CancelToken(), threading.Event(), {}

    def guarded(count, *, progress, cancel):
        try:
            return tiles(count, progress=progress, cancel=cancel, gate=gate)
        except Cancelled:
            outcome["cancelled"] = True
            raise

    steps = progress_steps(guarded, 100, cancel=token)
    assert next(steps) == (1, 100)
    steps.close()  # what an aborted worker's generator gets
    assert token.cancelled
    gate.set()
    for thread in threading.enumerate():
        if thread.name == "bright4b-run":
            thread.join(5)
    assert outcome == {"cancelled": True}
