"""Overrides before Hydra runs: the words make forwards, group options, one-line compose errors, early checks."""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable

from omegaconf import OmegaConf

from lightning_hydra_template.config.compose import CONFIG_DIR
from lightning_hydra_template.config.devices import check_accelerator_cheaply
from lightning_hydra_template.config.errors import fail, traceback_requested, user_errors
from lightning_hydra_template.config.validation import (
    check_output_dir,
    check_writable,
    validate_config,
    validate_sweep,
)

# Flags that make Hydra print something instead of running: no pre-composition for these.
INFO_FLAGS = ("--help", "-h", "--hydra-help", "--cfg", "-c", "--info", "-i", "--shell-completion", "-sc")
MULTIRUN_FLAGS = ("--multirun", "-m")


_MAKE_SETTING = re.compile(r"^[A-Z][A-Z0-9_]*=")  # MULTIRUN=1, PYTEST_ARGS=...: make's own variables


def make_overrides() -> list[str]:
    """Overrides given to make as ``key=value`` words (see the Makefile), in the order typed.

    Make lists command-line assignments last-first and escapes spaces as ``\\ ``.
    """
    raw = os.environ.pop("LHT_MAKE_OVERRIDES", "").strip()
    if not raw:
        return []
    words = [w.replace("\\ ", " ") for w in re.split(r"(?<!\\) +", raw) if w]
    return [w for w in reversed(words) if not _MAKE_SETTING.match(w)]


def group_options(group: str) -> list[str]:
    """The options of a config group, from the yaml files in its folder."""
    folder = CONFIG_DIR / group
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def _close(word: str, choices: list[str]) -> str:
    match = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean {match[0]}?)" if match else ""


def explain_compose_error(err: Exception, siblings: Callable[[str], list[str]] | None = None) -> str:
    """One line for Hydra's composition errors: which override, what is allowed.

    ``siblings(key)`` may list the keys that do exist next to an unknown ``key``.
    """
    text = str(err)
    if found := re.search(r"Could not (?:find|load) '([^']+)'", text):
        group, _, option = found.group(1).rpartition("/")
        options = re.findall(r"^\t(\S+)$", text.split("Config search path")[0], flags=re.M) or group_options(
            group
        )
        if group and options:
            return f"{group}={option}: no such option{_close(option, options)}; allowed: {', '.join(options)}"
    if found := re.search(r"Could not override '([^']+)'", text):
        key = found.group(1)
        known = siblings(key) if siblings else []
        hint = _close(key.rsplit(".", 1)[-1], known)
        return f"{key}: no such config key{hint}; prefix it with + to add a new key (`--cfg job` prints the config)"
    first = text.strip().splitlines()[0] if text.strip() else type(err).__name__
    if type(err).__name__ == "OverrideParseException":
        return f"cannot parse the overrides: {first} (quote values with spaces or brackets)"
    return first


def _sibling_keys(config_name: str, overrides: list[str]) -> Callable[[str], list[str]]:
    """Lists the keys next to an unknown key, from the config composed without that override."""
    from hydra import compose
    from omegaconf import DictConfig, OmegaConf

    def siblings(key: str) -> list[str]:
        parent = key.rsplit(".", 1)[0] if "." in key else ""
        rest = [o for o in overrides if o.split("=")[0].lstrip("+~") != key]
        try:
            node = compose(config_name=config_name, overrides=rest)
        except Exception:
            return []
        node = OmegaConf.select(node, parent) if parent else node
        return [str(k) for k in node] if isinstance(node, DictConfig) else []

    return siblings


def _without_sweeps(overrides: list[str]) -> list[str] | None:
    """The overrides that are not sweeps (``a=1,2``, ``x=range(...)``), as Hydra composes a multirun's
    primary config; None if they cannot be parsed (Hydra reports that itself)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except Exception:
        return None
    return [o.input_line for o in parsed if not o.is_sweep_override() and o.input_line is not None]


def check_overrides(config_name: str, overrides: list[str], multirun: bool = False) -> None:
    """Compose the config once with the user's overrides, so typos and bad values fail before
    Hydra creates a run directory.

    For a multirun only what holds for every job is checked (device, sweep directory and callbacks), from
    the overrides that are not sweeps: each job checks its own values.
    """
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    if multirun:
        primary = _without_sweeps(overrides)
        if primary is None:
            return
        overrides = primary
    try:
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
            try:
                cfg = compose(config_name=config_name, overrides=overrides, return_hydra_config=True)
            except Exception as err:  # Hydra raises several exception types for bad overrides
                if multirun:
                    return  # Hydra reports it, as it would without this check
                if traceback_requested():
                    raise
                fail(explain_compose_error(err, _sibling_keys(config_name, overrides)))
    finally:
        GlobalHydra.instance().clear()
    with user_errors():
        # a device no job can have fails every job: also refused before a sweep starts
        check_accelerator_cheaply(OmegaConf.select(cfg, "trainer.accelerator", default=None))
        if multirun:
            validate_sweep(cfg)
            return
        validate_config(cfg)
        if (log_dir := cfg.get("paths", {}).get("log_dir")) is not None:
            check_writable(log_dir)
        check_output_dir(cfg)
