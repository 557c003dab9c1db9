"""configs/local/default.yaml: the shipped example works when copied, and a file without the
``# @package _global_`` header (whose values would change nothing) is reported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hydra.core.global_hydra import GlobalHydra

from lightning_hydra_template.cli import LOCAL_EXAMPLE, hydra_entry
from lightning_hydra_template.config.compose import compose_run_config
from tests.conftest import REPO_ROOT

EXAMPLE = REPO_ROOT / LOCAL_EXAMPLE


def _local_dir(tmp_path: Path, text: str) -> str:
    """A config search path whose local/default.yaml holds ``text`` (found like configs/local/default.yaml)."""
    (tmp_path / "extra" / "local").mkdir(parents=True)
    (tmp_path / "extra" / "local" / "default.yaml").write_text(text)
    return f"hydra.searchpath=[file://{tmp_path / 'extra'}]"


def _uncommented(example: str) -> str:
    """The example with its settings switched on: the lines after the first bare ``#``, uncommented."""
    lines = example.splitlines()
    body = lines[lines.index("#") + 1 :]
    return "\n".join([lines[0], *(line.removeprefix("# ") for line in body)]) + "\n"


def test_the_example_uncommented_sets_top_level_values(tmp_path: Path) -> None:
    example = EXAMPLE.read_text()
    assert example.splitlines()[0] == "# @package _global_"
    cfg = compose_run_config([_local_dir(tmp_path, _uncommented(example))])
    assert "local" not in cfg
    assert cfg.trainer.accelerator == "cpu" and cfg.extras.print_config is True
    assert cfg.paths.log_dir == "/scratch/me/logs"
    assert cfg.callbacks.progress_bar.style == "lines"


def test_the_example_is_committed_and_personal_files_are_ignored() -> None:
    def ignored(path: str) -> bool:
        return subprocess.run(["git", "check-ignore", "-q", path], cwd=REPO_ROOT).returncode == 0

    if subprocess.run(["git", "rev-parse"], cwd=REPO_ROOT, capture_output=True).returncode != 0:
        pytest.skip("not a git checkout")
    assert not ignored(LOCAL_EXAMPLE)
    assert ignored("configs/local/default.yaml")


@pytest.mark.parametrize("header", ["", "# @package _global_\n"])
def test_a_local_file_without_the_header_is_reported(tmp_path: Path, monkeypatch, capfd, header: str) -> None:
    seen = []
    main = hydra_entry("train", seen.append)  # the real entry point, with a task that only keeps the config
    search_path = _local_dir(tmp_path, header + "trainer:\n  max_epochs: 2\n")
    monkeypatch.setenv("LHT_LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.delenv("LHT_MAKE_OVERRIDES", raising=False)
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    monkeypatch.setattr(sys, "argv", ["train", search_path])
    GlobalHydra.instance().clear()
    try:
        main()
    finally:
        GlobalHydra.instance().clear()
    (cfg,) = seen
    warnings = [line for line in capfd.readouterr().err.splitlines() if line.startswith("warning:")]
    if header:
        assert cfg.trainer.max_epochs == 2 and "local" not in cfg and not warnings
    else:  # the value went to local.trainer, where nothing reads it: one line says so and how to fix it
        assert cfg.trainer.max_epochs != 2 and cfg.local.trainer.max_epochs == 2
        assert warnings == [
            "warning: configs/local/default.yaml changes nothing (local.trainer): its first line must be "
            f"`# @package _global_` (see {LOCAL_EXAMPLE})"
        ]
