"""A call that reports progress through ``progress(done, total)``, as a generator of its reports.

napari's generator workers hand each yielded value to the GUI thread, but the engine
reports progress from inside one call. :func:`progress_steps` runs the call on a helper
thread and yields its reports as they come, so a widget can show them and cancel.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Generator
from typing import TypeVar

from .engine import CancelToken

R = TypeVar("R")
_DONE = object()


def progress_steps(
    function: Callable[..., R], *args, cancel: CancelToken, **kwargs
) -> Generator[tuple[int, int], None, R]:
    """Yield ``(done, total)`` from ``function(*args, progress=..., cancel=cancel, **kwargs)``;
    return its result, or raise its exception (:class:`~.engine.Cancelled` included).

    Closing the generator early (an aborted worker) sets ``cancel``: the call stops before
    its next tile batch, on its own thread, and nothing of it is returned.
    """
    reports: queue.SimpleQueue = queue.SimpleQueue()
    outcome: dict = {}

    def target() -> None:
        try:
            outcome["value"] = function(*args, progress=lambda d, t: reports.put((d, t)), cancel=cancel, **kwargs)
        except BaseException as err:  # handed to the generator's thread and raised there
            outcome["error"] = err
        finally:
            reports.put(_DONE)

    thread = threading.Thread(target=target, name="bright4b-run", daemon=True)
    thread.start()
    finished = False
    try:
        while (report := reports.get()) is not _DONE:
            yield report
        finished = True
    finally:
        if not finished:
            cancel.cancel()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
