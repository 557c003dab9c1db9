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


def fail(message: str) -> NoReturn:
    """Print ``error: <message>`` (first line only) and exit with status 2."""
    first_line = str(message).strip().splitlines()[0] if str(message).strip() else "unknown error"
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
