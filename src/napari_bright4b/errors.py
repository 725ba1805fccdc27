"""Errors that mean "the user's input was wrong": the CLI prints them in one line and exits 2."""


class BadInputError(ValueError):
    """Input that cannot be used; the message says what was wrong and what would work."""


class CheckpointError(BadInputError):
    """A checkpoint file that is missing, unsafe, corrupt or inconsistent with its model card."""
