"""Keeping API keys and tokens out of everything a run writes or prints.

A secret is the value of an environment variable (or a ``.env`` entry, loaded into the environment
at start-up) whose name ends in ``_KEY``/``_TOKEN`` or contains ``SECRET``/``PASSWORD``, or the
value of a config key with such a name. Saved configs, checkpoints and printed config trees get
``***`` in its place.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

MASK = "***"
_SECRET_NAME = re.compile(r"(^|_)(KEY|TOKEN|APIKEY)$|SECRET|PASSWORD|PASSWD|CREDENTIAL", re.I)
_MIN_LENGTH = 6  # shorter values ("1", "true") would mask innocent text


def is_secret_name(name: str) -> bool:
    """Whether an environment variable or config key of this name holds a secret."""
    return bool(_SECRET_NAME.search(name.rsplit(".", 1)[-1].lstrip("+~")))


_extra_values: set[str] = set()


def register_secret(value: str) -> None:
    """Mask this value from now on (e.g. a secret typed as a command-line override)."""
    if isinstance(value, str) and len(value) >= _MIN_LENGTH:
        _extra_values.add(value)


def secret_values() -> list[str]:
    """The secret values known right now, longest first (so overlapping ones mask fully)."""
    values = {v for k, v in os.environ.items() if is_secret_name(k) and len(v) >= _MIN_LENGTH}
    return sorted(values | _extra_values, key=len, reverse=True)


def redact_text_values(text: str, values: Iterable[str] | None = None) -> str:
    for value in secret_values() if values is None else values:
        if value in text:
            text = text.replace(value, MASK)
    return text


def redact(value: Any, key: str = "") -> Any:
    """A copy of a plain container with secret values (by key name or by content) masked."""
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact(v, key) for v in value)
    if isinstance(value, str):
        if key and is_secret_name(key) and value:
            return MASK
        return redact_text_values(value)
    return value


def register_override_secrets(overrides: Iterable[str]) -> None:
    """Secrets typed as ``key=value`` overrides whose key names a secret."""
    for override in overrides:
        key, sep, value = override.partition("=")
        if sep and is_secret_name(key) and not value.startswith("${"):
            register_secret(value.strip("'\""))


def redact_files(paths: Iterable[str | Path]) -> None:
    """Rewrite text files (Hydra's .hydra/*.yaml) with secret values masked."""
    values = secret_values()
    for path in map(Path, paths):
        if not path.is_file():
            continue
        text = path.read_text()
        masked = redact_text_values(text, values)
        masked = _mask_secret_keys_in_yaml(masked)
        if masked != text:
            path.write_text(masked)


_YAML_SECRET_LINE = re.compile(r"^(\s*-?\s*\+?~?([\w.]+)\s*[:=]\s*)(\S.*)$")


def _mask_secret_keys_in_yaml(text: str) -> str:
    """``api_key: abc`` and ``- logger.wandb.api_key=abc`` lines get their value masked
    (interpolations such as ``${oc.env:WANDB_API_KEY}`` are kept: they hold no secret)."""
    lines = []
    for line in text.splitlines(keepends=True):
        found = _YAML_SECRET_LINE.match(line.rstrip("\n"))
        if found and is_secret_name(found.group(2)) and "${" not in found.group(3):
            value = found.group(3)
            if value not in ("null", "''", '""', MASK):
                line = found.group(1) + MASK + ("\n" if line.endswith("\n") else "")
        lines.append(line)
    return "".join(lines)


def load_dotenv(path: str | Path = ".env") -> list[str]:
    """Load ``KEY=value`` lines of a ``.env`` file into the environment (existing variables win)."""
    path = Path(path)
    if not path.is_file():
        return []
    loaded = []
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        key, value = key.strip(), value.strip().strip("'\"")
        if key and key not in os.environ:
            os.environ[key] = value
            loaded.append(key)
    return loaded
