"""SLURM: launcher configs (submitit) compose and a sweep runs through submitit's local executor; every
trainer option keeps the atomic checkpoint writer; runs inside one allocation get their own directories
and only a requeued job (same command) resumes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from lightning.pytorch.plugins.environments import SLURMEnvironment

from lightning_hydra_template.config.overrides import group_options
from lightning_hydra_template.distributed.slurm import slurm_run_dir_arguments, slurm_run_name
from lightning_hydra_template.runs.checkpoint_io import AtomicCheckpointIO
from lightning_hydra_template.runs.resume import auto_resume_path
from tests.conftest import compose_config, run_main, run_module


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


SLURM_ENV = {
    "SLURM_JOB_ID": "4242",
    "SLURM_NTASKS": "1",
    "SLURM_NTASKS_PER_NODE": "1",
    "SLURM_NNODES": "1",
    "SLURM_PROCID": "0",
    "SLURM_LOCALID": "0",
    "SLURM_NODEID": "0",
    "SLURM_JOB_NAME": "train",
    "SLURM_NODELIST": "localhost",
}
ATOMIC_IO = "lightning_hydra_template.runs.checkpoint_io.AtomicCheckpointIO"


@pytest.mark.parametrize("option", group_options("trainer"))
def test_every_trainer_option_writes_checkpoints_atomically(tmp_path: Path, monkeypatch, option: str) -> None:
    """A ``plugins`` list in a trainer option replaces the default one: the atomic writer must be in it."""
    for name, value in SLURM_ENV.items():
        monkeypatch.setenv(name, value)
    cfg = compose_config([f"trainer={option}"], output_dir=tmp_path / "run", tiny=False)
    GlobalHydra.instance().clear()
    assert ATOMIC_IO in [p.get("_target_") for p in cfg.trainer.get("plugins") or []]
    if cfg.trainer.accelerator not in ("cpu", "auto"):
        return  # gpu, mps: built only where such a device exists; the composed config is checked above
    trainer = instantiate(cfg.trainer, logger=False, enable_progress_bar=False)
    assert isinstance(trainer.strategy.checkpoint_io, AtomicCheckpointIO)
    if option == "slurm":
        assert isinstance(trainer.strategy.cluster_environment, SLURMEnvironment)


def _clear_slurm(monkeypatch) -> None:
    for name in ("SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID"):
        monkeypatch.delenv(name, raising=False)


def test_slurm_run_dir_is_keyed_by_job_and_overrides(monkeypatch) -> None:
    _clear_slurm(monkeypatch)
    assert slurm_run_dir_arguments(["seed=1"]) == ["seed=1"]  # not under SLURM: Hydra's usual directory
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    seed1 = slurm_run_dir_arguments(["seed=1", "trainer.max_epochs=2"])
    assert seed1[:2] == ["seed=1", "trainer.max_epochs=2"]
    assert seed1[2].startswith("hydra.run.dir=${paths.log_dir}/${task_name}/runs/slurm_4242_")
    # the requeued job (same command, overrides in any order) finds the same directory
    assert slurm_run_dir_arguments(["trainer.max_epochs=2", "seed=1"])[2] == seed1[2]
    # another command in the same allocation never does
    assert slurm_run_dir_arguments(["seed=2", "trainer.max_epochs=2"])[2] != seed1[2]
    assert slurm_run_dir_arguments(["seed=1"])[-1] != seed1[2]
    # flags and hydra.* settings are not part of the run's config
    assert slurm_run_name(["seed=1", "hydra.verbose=true", "--cfg"]) == slurm_run_name(["seed=1"])
    assert slurm_run_dir_arguments(["-m", "seed=1,2"]) == ["-m", "seed=1,2"]  # the launcher decides
    assert slurm_run_dir_arguments(["hydra.run.dir=x"]) == ["hydra.run.dir=x"]  # the user decides
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "77")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "3")
    assert slurm_run_name(["seed=1"]).startswith("slurm_77_3_")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "4")
    assert slurm_run_name(["seed=1"]).startswith("slurm_77_4_")


def test_slurm_auto_resume_only_continues_the_same_command(tmp_path: Path, monkeypatch) -> None:
    _clear_slurm(monkeypatch)
    overrides = ["seed=1"]
    assert auto_resume_path(tmp_path, None, overrides) is None  # not under SLURM: never
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    run_dir = tmp_path / slurm_run_name(overrides)
    (run_dir / "checkpoints").mkdir(parents=True)
    assert auto_resume_path(run_dir, None, overrides) is None  # first start: nothing to resume
    (run_dir / "checkpoints" / "last.ckpt").write_bytes(b"x")
    assert auto_resume_path(run_dir, None, overrides) == str(run_dir / "checkpoints" / "last.ckpt")
    assert auto_resume_path(run_dir, None, ["seed=2"]) is None  # another command, same allocation
    other = tmp_path / "my_run"  # a directory given as hydra.run.dir: continued only with resume=
    (other / "checkpoints").mkdir(parents=True)
    (other / "checkpoints" / "last.ckpt").write_bytes(b"x")
    assert auto_resume_path(other, None, overrides) is None
    assert auto_resume_path(run_dir, "/explicit.ckpt", overrides) == "/explicit.ckpt"


@pytest.mark.slow
def test_runs_in_one_allocation_do_not_resume_each_other(tmp_path: Path, monkeypatch, capfd) -> None:
    """Budget: three short training runs through the console entry point, in-process (~15 s).

    ``for s in 1 2 3; do make train seed=$s; done`` inside one ``salloc``: each seed gets its own run;
    the same command again (a requeued job) continues its own directory. The entry point reads the
    allocation from the environment as a new process would (the submitit sweep above is a real one)."""
    from lightning_hydra_template.train import main

    tiny = [
        "trainer.max_epochs=1",
        "+trainer.limit_train_batches=2",
        "+trainer.limit_val_batches=1",
        "~callbacks.model_summary",
        "callbacks.progress_bar.style=lines",
        "logger=none",
        "extras.plots=false",
        "test=false",
    ]
    _clear_slurm(monkeypatch)
    env = {"SLURM_JOB_ID": "4242"}
    code, first, err = run_main(main, [*tiny, "seed=1"], monkeypatch, capfd, tmp_path, env=env)
    assert code == 0, err[-2000:]
    assert "Resuming from" not in first
    code, second, err = run_main(main, [*tiny, "seed=2"], monkeypatch, capfd, tmp_path, env=env)
    assert code == 0, err[-2000:]
    assert "Resuming from" not in second
    code, requeued, err = run_main(main, [*tiny, "seed=1"], monkeypatch, capfd, tmp_path, env=env)
    assert code == 0, err[-2000:]
    runs = sorted(p.name for p in (tmp_path / "logs" / "train" / "runs").iterdir())
    assert len(runs) == 2 and all(name.startswith("slurm_4242_") for name in runs)
    seed1_dir = tmp_path / "logs" / "train" / "runs" / slurm_run_name([*tiny, "seed=1"])
    assert f"Resuming from {seed1_dir / 'checkpoints' / 'last.ckpt'}" in requeued
