"""Errors a user can cause, kept apart from programming errors.

Every face (CLI, web app, Python API) catches :class:`UserInputError` and shows its message alone: the
message must name the problem and what is accepted. Anything else is a bug and is allowed to raise.
"""


class UserInputError(ValueError):
    """Bad input from the user: a file, a name, an option. The message says what is accepted."""


class ModelUnavailableError(UserInputError):
    """A model's weights cannot be had here (not downloaded, gated, no network).

    The message says how to get them and that the offline ``nforge-lite`` model always works.
    """
