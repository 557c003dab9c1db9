"""Keeping API keys, tokens and passwords out of everything a run writes or prints.

Secrets are found by value, so ordinary settings whose names merely end in ``_key``/``_token``
(``label_key: target``, ``pad_token: <pad>``) are never touched. A secret is:

- the value of an environment variable (or a ``.env`` entry, loaded into the environment at start-up)
  whose name ends in ``_KEY``/``_TOKEN`` or contains ``SECRET``/``PASSWORD``/``CREDENTIAL``;
- a value given to a config key that is unmistakably a credential: ``api_key``, ``password``,
  ``secret``, ``token`` (and a few spellings such as ``access_token``), alone or after a known
  provider prefix (``wandb_api_key``, ``hf_token``, ``aws_secret_access_key``,
  ``mlflow_tracking_password``, ...);
- the password part of a URL: ``postgresql://user:password@host/db`` is written ``postgresql://user:***@host/db``.

Saved configs, Hydra's ``.hydra`` files, checkpoints and printed config trees get ``***`` in its place.
Interpolations such as ``${oc.env:WANDB_API_KEY}`` hold no secret and are kept as typed.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

MASK = "***"
_MIN_LENGTH = 6  # shorter values ("1", "true") would mask innocent text wherever they occur

_ENV_SECRET_NAME = re.compile(r"(^|_)(KEY|TOKEN|APIKEY)$|SECRET|PASSWORD|PASSWD|CREDENTIAL", re.I)
_CREDENTIAL = (
    r"(?:api_?key|password|passwd|secret|token|secret_key|secret_access_key|access_token|auth_token"
    r"|session_token|client_secret)"
)
_PROVIDER = (
    r"(?:wandb|hf|huggingface|hugging_face|hub|openai|azure_openai|anthropic|cohere|mistral|groq|"
    r"replicate|together|aws|azure|gcp|google|github|gh|gitlab|mlflow_tracking|mlflow|comet|neptune|"
    r"clearml|dagshub|kaggle|slack|discord|telegram|db|database|postgres|postgresql|mysql|redis|smtp|"
    r"s3|minio|optuna)"
)
_CREDENTIAL_KEY = re.compile(rf"(?:{_PROVIDER}_)?{_CREDENTIAL}", re.I)
# ``<credential key>=<value>`` inside text (overrides, Hydra's override_dirname, status files)
_CREDENTIAL_ASSIGNMENT = re.compile(rf"(?<![\w-])((?:{_PROVIDER}_)?{_CREDENTIAL})=([^\s,'\"\]}}]+)", re.I)
# ``scheme://user:password@`` (the password may not hold ``/`` or blanks; URL-encoded ones never do)
_URL_PASSWORD = re.compile(r"\b([a-zA-Z][\w+.-]*://[^\s:/?#@'\"]*:)([^\s/'\"]*)@")


def is_secret_env_name(name: str) -> bool:
    """Whether an environment variable of this name holds a secret (``WANDB_API_KEY``, ``HF_TOKEN``)."""
    return bool(_ENV_SECRET_NAME.search(name))


def is_credential_key(key: str) -> bool:
    """Whether a config key (dotted path or override key) names a credential.

    ``logger.wandb.api_key`` and ``+extras.hf_token`` do; ``data.label_key`` and ``pad_token`` do not.
    """
    return bool(_CREDENTIAL_KEY.fullmatch(key.rsplit(".", 1)[-1].lstrip("+~")))


_extra_values: set[str] = set()


def register_secret(value: str) -> None:
    """Mask this value wherever it occurs from now on (e.g. a secret typed as a command-line override)."""
    if isinstance(value, str) and len(value) >= _MIN_LENGTH and not value.startswith("${"):
        _extra_values.add(value)


def secret_values() -> list[str]:
    """The secret values known right now, longest first (so overlapping ones mask fully)."""
    values = {v for k, v in os.environ.items() if is_secret_env_name(k) and len(v) >= _MIN_LENGTH}
    return sorted(values | _extra_values, key=len, reverse=True)


def _mask_url_password(found: re.Match[str]) -> str:
    password = found.group(2)
    if not password or password == MASK or password.startswith("${"):
        return found.group(0)
    return f"{found.group(1)}{MASK}@"


def _mask_assignment(found: re.Match[str]) -> str:
    value = found.group(2)
    if value in (MASK, "null") or value.startswith("${"):
        return found.group(0)
    return f"{found.group(1)}={MASK}"


def redact_text(text: str, values: Iterable[str] | None = None) -> str:
    """``text`` with known secret values, URL passwords and ``<credential key>=<value>`` pairs masked."""
    for value in secret_values() if values is None else values:
        if value in text:
            text = text.replace(value, MASK)
    if "://" in text:
        text = _URL_PASSWORD.sub(_mask_url_password, text)
    if "=" in text:
        text = _CREDENTIAL_ASSIGNMENT.sub(_mask_assignment, text)
    return text


def redact(value: Any, key: str = "") -> Any:
    """A copy of a plain container with secrets masked: values under credential keys, known secret
    values and URL passwords inside any string. Other values are returned unchanged."""
    return _redact(value, key, secret_values())


def _redact(value: Any, key: str, values: list[str]) -> Any:
    if isinstance(value, dict):
        return {k: _redact(v, str(k), values) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_redact(v, key, values) for v in value)
    if key and is_credential_key(key) and _holds_value(value):
        return MASK
    if isinstance(value, str):
        return redact_text(value, values)
    return value


def _holds_value(value: Any) -> bool:
    if isinstance(value, bool) or value is None:
        return False
    if isinstance(value, str):
        return value not in ("", MASK) and not value.startswith("${")
    return isinstance(value, int)


def register_override_secrets(overrides: Iterable[str]) -> None:
    """Secrets typed on the command line: values of credential-key overrides (each choice of a
    sweep ``a,b`` too) and URL passwords in any override."""
    for override in overrides:
        key, sep, value = override.partition("=")
        if not sep:
            continue
        value = value.strip()
        if is_credential_key(key) and not value.startswith("${"):
            register_secret(value.strip("'\""))
            for choice in value.split(","):
                register_secret(choice.strip().strip("'\""))
        _register_url_passwords(value)


def register_config_secrets(config: Any, key: str = "") -> None:
    """Secrets set in config files (e.g. ``configs/local/default.yaml``): values under credential keys
    and URL passwords, so they are masked wherever else they show up."""
    if isinstance(config, dict):
        for k, v in config.items():
            register_config_secrets(v, str(k))
    elif isinstance(config, (list, tuple)):
        for v in config:
            register_config_secrets(v, key)
    elif isinstance(config, str):
        if key and is_credential_key(key):
            register_secret(config)
        _register_url_passwords(config)


def _register_url_passwords(text: str) -> None:
    for found in _URL_PASSWORD.finditer(text):
        register_secret(found.group(2))


def redact_files(paths: Iterable[str | Path]) -> None:
    """Rewrite text files (Hydra's ``.hydra/*.yaml``, ``multirun.yaml``) with their secrets masked.

    Each file is replaced in one step, so a job reading it meanwhile sees the old or the new text."""
    values = secret_values()
    for path in map(Path, paths):
        if not path.is_file():
            continue
        text = path.read_text()
        masked = _quote_bare_masks(_mask_credential_lines(redact_text(text, values)))
        if masked != text:
            staged = path.with_name(f".{path.name}.{os.getpid()}.masking")
            staged.write_text(masked)
            os.replace(staged, path)


_YAML_ENTRY = re.compile(r"^(\s*-?\s*[+~]*([\w.-]+)\s*([:=])\s*)(\S.*)$")


def _mask_credential_lines(text: str) -> str:
    """``api_key: abc`` and ``- logger.wandb.api_key=a,b`` lines get their whole value masked."""
    lines = []
    for line in text.splitlines(keepends=True):
        found = _YAML_ENTRY.match(line.rstrip("\n"))
        if found and is_credential_key(found.group(2)):
            value = found.group(4)
            if "${" not in value and value not in ("null", "''", '""', MASK, f"'{MASK}'"):
                line = found.group(1) + MASK + ("\n" if line.endswith("\n") else "")
        lines.append(line)
    return "".join(lines)


# a YAML value that starts with ``***`` would read as an alias: such values get quoted
_BARE_MASK = re.compile(r"^(\s*(?:- +)*(?:[^\s'\"#-][^#]*?: +)?)(\*\*\*.*)$", re.M)


def _quote_bare_masks(text: str) -> str:
    return _BARE_MASK.sub(lambda m: m.group(1) + "'" + m.group(2).replace("'", "''") + "'", text)


class SecretFilter(logging.Filter):
    """A logging filter that masks secrets in every record a handler writes (e.g. a run's log file)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = redact_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def mask_log_handlers(logger: logging.Logger | None = None) -> None:
    """Add a :class:`SecretFilter` to the handlers of ``logger`` (the root logger by default)."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, SecretFilter) for f in handler.filters):
            handler.addFilter(SecretFilter())


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
