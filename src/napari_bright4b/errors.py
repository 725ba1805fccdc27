"""The errors a run reports to its user, torch-free so that the CLI catches them by class.

:class:`BadInputError` and its subclasses mean "the user's input was wrong": the CLI
prints them in one line and exits 2. :class:`Cancelled` and :class:`OutOfMemory` end a
run that was set up right.
"""


class BadInputError(ValueError):
    """Input that cannot be used; the message says what was wrong and what would work."""


class CheckpointError(BadInputError):
    """A checkpoint file that is missing, unsafe, corrupt or inconsistent with its model card."""


class Cancelled(Exception):
    """The run was cancelled; nothing was returned or written."""


class OutOfMemory(RuntimeError):
    """Not even one tile fits in memory."""
