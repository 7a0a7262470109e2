"""The project's one exception type for user errors.

A :class:`ConfigError` names the field, the value and what is allowed; the command-line tools print its
message on one line and exit with status 2, never with a traceback.
"""

from __future__ import annotations


class S3SimError(Exception):
    """Base class of every error s3sim raises on purpose."""


class ConfigError(S3SimError, ValueError):
    """A user error in a configuration, an override, a path or a range.

    Parameters
    ----------
    field:
        Dotted name of the offending field (``model.n_agents``), or a path.
    value:
        The value that was given.
    allowed:
        Plain-language statement of what would have been accepted.
    """

    def __init__(self, field: str, value: object, allowed: str, *, message: str | None = None):
        self.field = field
        self.value = value
        self.allowed = allowed
        super().__init__(message or f"{field}={value!r} is not allowed: {allowed}")


class CapacityError(S3SimError, RuntimeError):
    """A run stopped because it would exceed a configured resource cap (``model.max_actors``)."""


def first_line(exc: BaseException, default: str | None = None) -> str:
    """The first line of an exception's message (for one-line errors and status records); ``default``, or the
    exception's type name, when the message is empty."""
    lines = str(exc).strip().splitlines()
    if lines:
        return lines[0]
    return type(exc).__name__ if default is None else default
