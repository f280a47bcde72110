"""Errors whose message is meant for a person, never a traceback."""

SHOWN = 80  # the most characters of a user's value that a message repeats


def shown(text):
    """Return TEXT as a message repeats it: at most SHOWN characters, the cut marked with an ellipsis."""
    return text if len(text) <= SHOWN else text[:SHOWN - 1] + "…"


class AppError(Exception):
    """An expected failure: the message says what happened and what to do next."""

    exit_code = 1

    def __init__(self, message, exit_code=None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class ConfigError(AppError):
    """A missing or malformed setting; the message names the variable."""

    exit_code = 2
