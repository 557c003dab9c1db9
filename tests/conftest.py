"""Tiny-config fixtures: compose the real configs, shrink them, run the real code paths."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig

from lightning_hydra_template.config.compose import CONFIG_DIR, compose_run_config

REPO_ROOT = CONFIG_DIR.parent

# Generated and downloaded example data goes to one temporary folder per test session, never into the
# checkout (a test that needs its own folder sets LHT_DATA_DIR itself).
os.environ.setdefault("LHT_DATA_DIR", tempfile.mkdtemp(prefix="lht-test-data-"))

# Small, fast and quiet: one epoch, no progress bar redraws, no model summary table.
TINY = (
    "trainer.max_epochs=1",
    "trainer.accelerator=cpu",
    "~callbacks.model_summary",
    "callbacks.progress_bar.style=lines",
    "logger=csv",
)


def compose_config(
    overrides: Sequence[str] = (),
    config_name: str = "train",
    output_dir: Path | None = None,
    tiny: bool = True,
) -> DictConfig:
    """Compose ``configs/<config_name>.yaml`` as the CLI would, with its run directory at ``output_dir``."""
    extra = list(TINY) if tiny and config_name == "train" else []
    if config_name == "eval":
        extra = ["trainer.accelerator=cpu", "logger=csv"]
    # explicit overrides come last so they win over TINY
    log_dir = output_dir.parent if output_dir is not None else None
    return compose_run_config([*extra, *overrides], output_dir, config_name, log_dir=log_dir)


@pytest.fixture
def make_cfg(tmp_path: Path) -> Iterator[Callable[..., DictConfig]]:
    counter = iter(range(1000))

    def _make(overrides: Sequence[str] = (), config_name: str = "train", tiny: bool = True) -> DictConfig:
        return compose_config(overrides, config_name, tmp_path / f"run{next(counter)}", tiny)

    yield _make
    GlobalHydra.instance().clear()


def clean_env() -> dict[str, str]:
    """The environment minus what a parent ``make`` or run would leak into a child run."""
    leaked = ("LHT_RUN_ID", "LHT_MAKE_OVERRIDES", "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")
    return {k: v for k, v in os.environ.items() if k not in leaked}


def run_module(
    module: str, args: Sequence[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m <module> args`` as a user would, with logs under ``cwd``."""
    full_env = {**clean_env(), "LHT_LOG_DIR": str(cwd / "logs"), "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
