"""Errors a user can cause, kept apart from programming errors.

Every face (CLI, web app, Python API) catches :class:`UserInputError` and shows its message alone: the
message must name the problem and what is accepted. Anything else is a bug and is allowed to raise.
"""

from collections.abc import Callable
from contextvars import ContextVar

message_filter: ContextVar[Callable[[str], str] | None] = ContextVar("nforge_message_filter", default=None)
"""Rewrites the message of every :class:`UserInputError` made while it is set (the page sets one that
removes server paths: ``ui/_confine.py``)."""


class UserInputError(ValueError):
    """Bad input from the user: a file, a name, an option. The message says what is accepted."""

    def __init__(self, *args) -> None:
        rewrite = message_filter.get()
        if rewrite is not None and args and isinstance(args[0], str):
            args = (rewrite(args[0]), *args[1:])
        super().__init__(*args)


class ModelUnavailableError(UserInputError):
    """A model's weights cannot be had here (not downloaded, gated, no network).

    The message says how to get them and that the offline ``nforge-lite`` model always works.
    """


class DiskFullError(UserInputError):
    """A file could not be written because the disk (or the user's quota) is full; nothing half-written is
    kept. Not the user's input, but theirs (or the server owner's) to fix: the message says how."""
