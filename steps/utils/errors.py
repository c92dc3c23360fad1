"""Exceptions that steps turn into one-line messages instead of tracebacks."""


class FairstreamError(Exception):
    """A user-facing problem (bad input, mismatched config): printed as one line, exit code 1."""


class StageComplete(Exception):  # noqa: N818 - it is a signal, not an error
    """Raised on entering a stage whose output is already complete with the same config."""
