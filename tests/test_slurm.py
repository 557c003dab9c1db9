"""SLURM launcher configs (submitit): they compose, and a sweep runs through submitit's local executor."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hydra.utils import instantiate

from tests.conftest import run_module


@pytest.mark.parametrize("launcher", ["slurm", "slurm_multinode", "slurm_local"])
def test_launcher_configs_compose(make_cfg, launcher: str) -> None:
    cfg = make_cfg([f"hydra/launcher={launcher}", "trainer=slurm"])
    hydra_launcher = cfg.hydra.launcher
    assert hydra_launcher._target_.startswith("hydra_plugins.hydra_submitit_launcher")
    assert hydra_launcher.submitit_folder.endswith(".submitit/%j")
    if launcher != "slurm_local":
        assert hydra_launcher.signal_delay_s > 0 and hydra_launcher.max_num_timeout >= 1
    if launcher == "slurm_multinode":
        assert (hydra_launcher.nodes, hydra_launcher.tasks_per_node) == (2, 4)


def test_slurm_trainer_follows_the_allocation(make_cfg, monkeypatch) -> None:
    monkeypatch.setenv("SLURM_NTASKS_PER_NODE", "4")
    monkeypatch.setenv("SLURM_NNODES", "2")
    cfg = make_cfg(["trainer=slurm"])
    assert (cfg.trainer.devices, cfg.trainer.num_nodes) == (4, 2)
    environment = instantiate(cfg.trainer.plugins[0])
    assert environment.auto_requeue is False  # submitit requeues; see configs/trainer/slurm.yaml


@pytest.mark.slow
def test_sweep_through_submitit_local_executor(tmp_path: Path) -> None:
    """Budget: ~30-90 s (two jobs, each a fresh process started by submitit, running at once)."""
    args = [
        "-m",
        "hydra/launcher=slurm_local",
        "model/net=mlp",
        "trainer.max_epochs=1",
        "~callbacks.model_summary",
        "callbacks.progress_bar.style=lines",
        "seed=1,2",
    ]
    result = run_module("lightning_hydra_template.train", args, tmp_path, timeout=400)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    (sweep,) = (tmp_path / "logs" / "train" / "multiruns").iterdir()
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir()) == [".submitit", "0", "1"]
    for job in ("0", "1"):
        summary = json.loads((sweep / job / "summary.json").read_text())
        assert summary["status"] == "completed" and summary["run_dir"] == str(sweep / job)
    assert "| 1 | completed | seed=2 |" in (sweep / "report.md").read_text()
