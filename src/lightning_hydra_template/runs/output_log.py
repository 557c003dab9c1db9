"""The run's log file (``<run dir>/<task_name>.log``) keeps everything the run prints, with timestamps.

The plan, the epoch lines, the summary and the resume hint are printed for people; this mirrors each
complete line of standard output (INFO) and standard error (WARNING) into the same file as Hydra's
file handler, so the console stays as it is. Redraws of live displays (Rich bars: terminal control
codes, carriage returns) are not copied.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

FILE_FORMAT = "[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"  # as Hydra's job log file
LOGGER_NAME = "printed"

_Func = TypeVar("_Func", bound=Callable[..., Any])


class _LineMirror:
    """A text stream that writes through to ``stream`` and logs each complete line."""

    def __init__(self, stream: Any, logger: logging.Logger, level: int) -> None:
        self._stream = stream
        self._logger = logger
        self._level = level
        self._pending = ""
        self.active = True  # False once the run is over: anything still holding this stream writes through
        self._inside = False

    def write(self, text: str) -> int:
        written = self._stream.write(text)
        self._pending += text
        if "\n" in self._pending:
            *lines, self._pending = self._pending.split("\n")
            for line in lines:
                self._log(line)
        return written

    def _log(self, line: str) -> None:
        if not self.active or self._inside or not line.strip() or "\x1b" in line or "\r" in line:
            return
        self._inside = True  # a logging error printed to stderr must not come back here
        try:
            self._logger.log(self._level, line.rstrip())
        finally:
            self._inside = False

    def flush(self) -> None:
        self._stream.flush()

    def close_line(self) -> None:
        if self._pending:
            self._log(self._pending)
            self._pending = ""

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, encoding, ... of the real stream
        return getattr(self._stream, name)


def _file_handler(path: Path) -> tuple[logging.Handler, bool]:
    """Hydra's handler for this file when it has one (one writer per file), else a new one."""
    target = os.path.abspath(path)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler) and handler.baseFilename == target:
            return handler, False
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(target, mode="a", encoding="utf-8")
    handler.setFormatter(logging.Formatter(FILE_FORMAT))
    return handler, True


@contextlib.contextmanager
def printed_output_logged_to(path: str | Path) -> Iterator[None]:
    """While inside, lines printed to stdout/stderr are also written to the log file at ``path``."""
    handler, owned = _file_handler(Path(path))
    logger = logging.getLogger(LOGGER_NAME)
    logger.propagate = False  # the console already shows them
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    saved = sys.stdout, sys.stderr
    mirrors = _LineMirror(sys.stdout, logger, logging.INFO), _LineMirror(sys.stderr, logger, logging.WARNING)
    sys.stdout, sys.stderr = mirrors
    try:
        yield
    finally:
        for mirror in mirrors:
            mirror.close_line()
            mirror.active = False
        if sys.stdout is mirrors[0]:
            sys.stdout = saved[0]
        if sys.stderr is mirrors[1]:
            sys.stderr = saved[1]
        logger.removeHandler(handler)
        handler.flush()
        if owned:
            handler.close()


def log_printed_output(func: _Func) -> _Func:
    """Decorates a run's function of ``cfg``: what it prints also goes to ``<run dir>/<task_name>.log``."""

    @functools.wraps(func)
    def wrapper(cfg: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            path = Path(cfg.paths.output_dir) / f"{cfg.get('task_name') or 'train'}.log"
        except Exception:  # no run directory known (e.g. a config composed without one)
            return func(cfg, *args, **kwargs)
        with printed_output_logged_to(path):
            return func(cfg, *args, **kwargs)

    return wrapper  # type: ignore[return-value]
