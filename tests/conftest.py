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

# A classifier, whatever task the project's defaults train (the test-local data options are 2-class blobs).
CLASSIFIER = ("model=classifier", "monitor.metric=val/acc", "monitor.mode=max")
# Test-local config options: tests/configs/data/ (docs_style, synthetic).
TEST_CONFIGS = f"hydra.searchpath=[file://{REPO_ROOT / 'tests' / 'configs'}]"
# A task of the tests' own, the same in every project: 2-class blobs (1000 training samples, batches of 64:
# 16 steps per epoch) and an MLP classifier.
SYNTHETIC_MLP = (TEST_CONFIGS, "data=synthetic", *CLASSIFIER, "model/net=mlp")


# The longest tests first (CI worker seconds, longest first), then the rest of the slow ones, then the
# quick ones: under `-n 2` the quick tests at the end fill the gaps, so neither worker ends alone on a
# long test. Whole modules move (a module-scoped fixture is built once per worker); inside a module,
# the tests named here go first. A stale entry only costs order.
LONGEST_FIRST = (
    "tests/test_new_project.py::test_generated_project_passes_its_own_lint_and_tests",  # template-only
    "tests/test_new_project.py::test_generated_project_loads_its_own_and_the_templates_checkpoints",  # template-only
    "tests/test_new_project.py",  # template-only
    "tests/test_readme.py::test_readme_commands_run_verbatim",
    "tests/test_perf.py::test_bench_quick_mode_runs_and_reports_sane_numbers",
    "tests/test_interrupt_resume.py::test_kill_term_interrupt_and_resume_in_the_same_run_dir",
    "tests/test_mlflow.py::test_a_run_against_a_real_mlflow_server",
    "tests/test_deploy.py",
    "tests/test_secrets_and_safety.py::test_planted_secrets_appear_nowhere",
    "tests/test_wheel.py::test_installed_wheel_trains_from_any_directory",
    "tests/test_search.py::test_two_workers_share_one_sqlite_study_without_duplicates",
    "tests/test_train.py",
    "tests/test_ddp.py",
    "tests/test_slurm.py::test_sweep_through_submitit_local_executor",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def named(item: pytest.Item) -> int:
        return next((i for i, p in enumerate(LONGEST_FIRST) if item.nodeid.startswith(p)), len(LONGEST_FIRST))

    modules: dict[str, list[pytest.Item]] = {}
    for item in items:
        modules.setdefault(item.nodeid.split("::")[0], []).append(item)

    def module_rank(tests: list[pytest.Item]) -> tuple[int, int]:
        return min(named(t) for t in tests), 0 if any(t.get_closest_marker("slow") for t in tests) else 1

    ordered = sorted(modules.values(), key=module_rank)  # stable: otherwise in collection order
    items[:] = [item for tests in ordered for item in sorted(tests, key=named)]


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


def run_main(
    main: Callable[[], object],
    args: Sequence[str],
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    cwd: Path,
    env: dict[str, str] | None = None,
) -> tuple[int, str, str]:
    """A console entry point's ``main`` in this process, as ``run_module`` runs it in a new one (same
    arguments, log folder and environment), without the interpreter start and ``import lightning``
    (~12 s of CPU each). Returns the exit status, stdout and stderr. For what a process boundary itself
    decides (signals, exit codes of the interpreter, a fresh environment), use ``run_module``."""
    monkeypatch.chdir(cwd)
    # what a parent make would leak, and the run directories the entry point notes in the environment
    for name in ("LHT_MAKE_OVERRIDES", "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "LHT_RUN_DIR"):
        monkeypatch.setenv(name, "")  # recorded, so that what the run sets is undone after the test
        monkeypatch.delenv(name)
    monkeypatch.setenv("LHT_LOG_DIR", str(cwd / "logs"))
    for name, value in (env or {}).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(sys, "argv", ["main", *args])
    capfd.readouterr()  # only this call's output below
    GlobalHydra.instance().clear()
    code = 0
    try:
        main()
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    finally:
        GlobalHydra.instance().clear()
    out, err = capfd.readouterr()
    return code, out, err
