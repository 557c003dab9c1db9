"""User errors: one clear line on stderr and a non-zero exit, the traceback only when asked for."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

EXIT_USER_ERROR = 2


class UserError(Exception):
    """A problem the user can fix: bad config value, missing file, unavailable device."""


class ConfigError(UserError):
    """A config value outside what is allowed; names the field."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        super().__init__(f"{field}: {problem}")


def traceback_requested() -> bool:
    return os.environ.get("HYDRA_FULL_ERROR") == "1" or os.environ.get("LHT_TRACEBACK") == "1"


# torch re-raises a DataLoader worker's exception as "Caught X in ...\nOriginal Traceback ...".
WORKER_ERROR_START = "Caught "


def original_message(message: str) -> str:
    """The message a DataLoader worker's exception had, when ``message`` is torch's re-raised form of it
    (the worker's traceback, then ``<module>.<Type>: <message>``); otherwise ``message``."""
    lines = [line for line in message.strip().splitlines() if line.strip()]
    if not (message.startswith(WORKER_ERROR_START) and len(lines) > 2 and "Original Traceback" in message):
        return message
    exception_line = lines[-1]
    type_name, separator, original = exception_line.partition(": ")
    return original if separator and " " not in type_name else exception_line


def fail(message: str) -> NoReturn:
    """Print ``error: <message>`` (first line only) and exit with status 2."""
    message = original_message(str(message))
    first_line = message.strip().splitlines()[0] if message.strip() else "unknown error"
    print(f"error: {first_line}", file=sys.stderr, flush=True)
    sys.exit(EXIT_USER_ERROR)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn :class:`UserError` into one line and exit 2; re-raise with traceback if requested."""
    try:
        yield
    except UserError as err:
        if traceback_requested():
            raise
        fail(str(err))
