"""Secrets never reach saved configs, logs, checkpoints or printed configs; unsafe checkpoints are
refused by eval too; a resumed run keeps its wandb run id."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from hydra.core.global_hydra import GlobalHydra

from lightning_hydra_template.config.secrets import MASK, is_secret_name, redact
from tests.conftest import run_module

ENV_SECRET = "wandb-fake-key-0123456789"
DOTENV_SECRET = "dotenv-planted-token-424242"
CLI_SECRET = "typed-on-cli-secret-777777"


@pytest.mark.slow
def test_planted_secrets_appear_nowhere(tmp_path):
    # budget: one 1-epoch training process, ~15 s
    (tmp_path / ".env").write_text(f"# local settings\nMY_SERVICE_TOKEN='{DOTENV_SECRET}'\n")
    result = run_module(
        "lightning_hydra_template.train",
        [
            "trainer.max_epochs=1",
            "trainer.accelerator=cpu",
            "data.batch_size=256",
            "callbacks.progress_bar.style=lines",
            "logger=many",
            "extras.print_config=true",
            f"+extras.api_key={CLI_SECRET}",
            "+extras.service=${oc.env:MY_SERVICE_TOKEN}",
            "+extras.wandb=${oc.env:WANDB_API_KEY}",
        ],
        tmp_path,
        env={"WANDB_API_KEY": ENV_SECRET},
    )
    assert result.returncode == 0, result.stderr
    assert MASK in result.stdout  # the printed config tree shows the masked values
    (run_dir,) = list((tmp_path / "logs" / "train" / "runs").iterdir())
    files = [p for p in run_dir.rglob("*") if p.is_file()]
    assert any(p.suffix == ".ckpt" for p in files) and any(p.parent.name == ".hydra" for p in files)
    for secret in (ENV_SECRET, DOTENV_SECRET, CLI_SECRET):
        assert secret not in result.stdout + result.stderr
        for path in files:
            assert secret.encode() not in path.read_bytes(), f"{secret} leaked into {path}"
    # the checkpoint is still self-describing: the masked config is there
    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert ckpt["lht_config"]["extras"]["api_key"] == MASK


def test_redaction_rules(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf-abcdefghijk")
    assert is_secret_name("WANDB_API_KEY") and is_secret_name("aws_secret_access_key")
    assert not is_secret_name("max_tokens") and not is_secret_name("monitor")
    cleaned = redact({"api_key": "x" * 8, "url": "https://u:hf-abcdefghijk@host", "n": 3, "max_tokens": 5})
    assert cleaned == {"api_key": MASK, "url": f"https://u:{MASK}@host", "n": 3, "max_tokens": 5}


class _Evil:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


def test_eval_refuses_a_checkpoint_that_would_run_code(tmp_path, monkeypatch, capfd):
    from lightning_hydra_template.eval import main as eval_main

    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "x": _Evil(str(marker))}, evil)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LHT_LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.setattr(sys, "argv", ["eval", f"ckpt_path={evil}", "trainer.accelerator=cpu"])
    GlobalHydra.instance().clear()
    with pytest.raises(SystemExit) as stop:
        eval_main()
    GlobalHydra.instance().clear()
    assert stop.value.code == 2
    assert "refused to load" in capfd.readouterr().err
    assert not marker.exists()


def test_wandb_run_id_is_stored_and_reused(tmp_path):
    from lightning_hydra_template.loggers.wandb import WANDB_ID_FILE, wandb_run_id

    first = wandb_run_id(tmp_path)
    assert (tmp_path / WANDB_ID_FILE).read_text().strip() == first
    assert wandb_run_id(tmp_path) == first  # the resumed run, same directory
    assert wandb_run_id(tmp_path / "other") != first


def test_slurm_job_gets_a_stable_run_dir_and_resumes_its_checkpoint(tmp_path, monkeypatch):
    from lightning_hydra_template.distributed.slurm import slurm_run_dir_arguments
    from lightning_hydra_template.runs.resume import auto_resume_path

    monkeypatch.delenv("SLURM_ARRAY_JOB_ID", raising=False)
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    assert slurm_run_dir_arguments(["seed=1"]) == ["seed=1"]
    assert auto_resume_path(tmp_path, None) is None
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    args = slurm_run_dir_arguments(["seed=1"])
    assert args == ["seed=1", "hydra.run.dir=${paths.log_dir}/${task_name}/runs/slurm_4242"]
    assert slurm_run_dir_arguments(["-m", "seed=1,2"]) == ["-m", "seed=1,2"]  # the launcher decides
    assert auto_resume_path(tmp_path, None) is None  # first start: nothing to resume
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "last.ckpt").write_bytes(b"x")
    assert auto_resume_path(tmp_path, None) == str(tmp_path / "checkpoints" / "last.ckpt")  # requeued
    assert auto_resume_path(tmp_path, "/explicit.ckpt") == "/explicit.ckpt"
