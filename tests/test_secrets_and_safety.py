"""Secrets, and only secrets, are masked in saved configs, logs, checkpoints, sweep and search files and
printed configs; unsafe checkpoints are refused by eval too; a resumed run keeps its wandb run id."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from lightning_hydra_template.config.secrets import (
    MASK,
    is_credential_key,
    is_secret_env_name,
    redact,
    redact_files,
    register_override_secrets,
)
from tests.conftest import run_module

ENV_SECRET = "wandb-fake-key-0123456789"
DOTENV_SECRET = "dotenv-planted-token-424242"
CLI_SECRET = "typed-on-cli-secret-777777"
URL_PASSWORD = "url-pass-word-31337"
SECRETS = (ENV_SECRET, DOTENV_SECRET, CLI_SECRET, URL_PASSWORD)
# Ordinary settings whose names end like credentials do: they must survive everything unchanged.
ORDINARY = {"label_key": "target", "pad_token": "<pad>", "eos_token": "</s>", "sort_key": "length"}
ORDINARY_OVERRIDES = [f"+extras.{k}='{v}'" for k, v in ORDINARY.items()]
PLANTED_OVERRIDES = [
    f"+extras.api_key={CLI_SECRET}",
    f"+extras.database=postgresql://user:{URL_PASSWORD}@db-host:5432/runs",
    "+extras.service=${oc.env:MY_SERVICE_TOKEN}",
    "+extras.wandb=${oc.env:WANDB_API_KEY}",
]
TINY_RUN = [
    "trainer.accelerator=cpu",
    "+trainer.limit_train_batches=3",
    "+trainer.limit_val_batches=2",
    "callbacks.progress_bar.style=lines",
    "~callbacks.model_summary",
]


def _files(directory: Path) -> list[Path]:
    return [p for p in directory.rglob("*") if p.is_file()]


def _assert_no_secret(directory: Path, *texts: str) -> list[Path]:
    """Grep every file below ``directory`` (checkpoints too, as bytes) and ``texts`` for the planted secrets."""
    files = _files(directory)
    for secret in SECRETS:
        for text in texts:
            assert secret not in text
        for path in files:
            assert secret.encode() not in path.read_bytes(), f"{secret} leaked into {path}"
    return files


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []


def _yaml(path: Path) -> Any:
    """A saved file as plain data, interpolations unresolved (as resume= reads overrides.yaml)."""
    return yaml.safe_load(path.read_text())


def _check_run_dir(run_dir: Path, stdout: str, stderr: str) -> None:
    files = _assert_no_secret(run_dir, stdout, stderr)
    assert any(p.suffix == ".ckpt" for p in files) and any(p.parent.name == ".hydra" for p in files)
    extras = _yaml(run_dir / ".hydra" / "config.yaml")["extras"]
    assert {k: extras[k] for k in ORDINARY} == ORDINARY
    assert extras["api_key"] == MASK
    assert extras["database"] == f"postgresql://user:{MASK}@db-host:5432/runs"
    assert set(ORDINARY_OVERRIDES) <= set(_yaml(run_dir / ".hydra" / "overrides.yaml"))
    for path in (run_dir / "checkpoints").glob("*.ckpt"):
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        assert {k: ckpt["lht_config"]["extras"][k] for k in ORDINARY} == ORDINARY
        assert ckpt["lht_config"]["extras"]["api_key"] == MASK
        assert not any(secret in text for text in _strings(ckpt) for secret in SECRETS)


@pytest.mark.slow
def test_planted_secrets_appear_nowhere_and_ordinary_values_survive_a_resume(tmp_path):
    """Budget: two short training processes (a run and its resume), ~15 s each on an idle machine."""
    (tmp_path / ".env").write_text(f"# local settings\nMY_SERVICE_TOKEN='{DOTENV_SECRET}'\n")
    env = {"WANDB_API_KEY": ENV_SECRET}
    args = [
        *TINY_RUN,
        "trainer.max_epochs=1",
        "logger=many",
        "extras.print_config=true",
        *ORDINARY_OVERRIDES,
        *PLANTED_OVERRIDES,
    ]
    result = run_module("lightning_hydra_template.train", args, tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert MASK in result.stdout  # the printed config tree shows the masked values
    assert "label_key: target" in result.stdout and "pad_token: <pad>" in result.stdout
    (run_dir,) = list((tmp_path / "logs" / "train" / "runs").iterdir())
    _check_run_dir(run_dir, result.stdout, result.stderr)

    # resume= replays .hydra/overrides.yaml: the ordinary values come back unchanged
    resumed = run_module(
        "lightning_hydra_template.train", [f"resume={run_dir}", "trainer.max_epochs=2"], tmp_path, env=env
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "Resuming from" in resumed.stdout
    _check_run_dir(run_dir, resumed.stdout, resumed.stderr)
    last = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert last["lht_config"]["trainer"]["max_epochs"] == 2


@pytest.mark.slow
def test_sweep_files_hold_no_secret_even_for_a_job_that_fails_its_checks(tmp_path):
    """Budget: one process, a sweep of two jobs: one fails validation at once, one trains 1 short epoch."""
    args = ["-m", *TINY_RUN, "trainer.max_epochs=1", "logger=csv", "data.batch_size=0,64"]
    args += [*ORDINARY_OVERRIDES, *PLANTED_OVERRIDES]
    (tmp_path / ".env").write_text(f"MY_SERVICE_TOKEN={DOTENV_SECRET}\n")
    result = run_module("lightning_hydra_template.train", args, tmp_path, env={"WANDB_API_KEY": ENV_SECRET})
    assert result.returncode == 1, result.stderr  # one job failed: the sweep says so
    (sweep_dir,) = list((tmp_path / "logs" / "train" / "multiruns").iterdir())
    assert json.loads((sweep_dir / "0" / "status.json").read_text())["status"] == "failed"
    assert json.loads((sweep_dir / "1" / "summary.json").read_text())["status"] == "completed"
    _assert_no_secret(sweep_dir)
    task_overrides = _yaml(sweep_dir / "multirun.yaml")["hydra"]["overrides"]["task"]
    assert f"+extras.api_key={MASK}" in task_overrides
    assert set(ORDINARY_OVERRIDES) <= set(task_overrides)
    for job in ("0", "1"):  # the failed job's .hydra files too
        extras = _yaml(sweep_dir / job / ".hydra" / "config.yaml")["extras"]
        assert {k: extras[k] for k in ORDINARY} == ORDINARY and extras["api_key"] == MASK


def test_secrets_are_found_by_value_not_by_key_suffix(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf-abcdefghijk")
    assert is_secret_env_name("WANDB_API_KEY") and is_secret_env_name("AWS_SECRET_ACCESS_KEY")
    assert not is_secret_env_name("TOKENIZERS_PARALLELISM") and not is_secret_env_name("MONITOR")
    nested = {"data": dict(ORDINARY), "max_tokens": 5, "monitor": "val/acc", "tokenizer": {"name": "bpe"}}
    assert redact(nested) == nested
    for key in ORDINARY | {"max_tokens": 0, "primary_key": 0, "tokenizer": 0, "keyword": 0}:
        assert not is_credential_key(key) and not is_credential_key(f"+data.{key}")
    credentials = ["api_key", "password", "secret", "token", "wandb_api_key", "hf_token", "openai_api_key"]
    credentials += ["aws_secret_access_key", "mlflow_tracking_password", "WANDB_API_KEY"]
    for key in credentials:
        assert is_credential_key(key) and is_credential_key(f"+logger.wandb.{key}")
        assert redact({key: "abc", "n": 3}) == {key: MASK, "n": 3}
    assert redact({"token": None, "api_key": "${oc.env:WANDB_API_KEY}"}) == {
        "token": None,
        "api_key": "${oc.env:WANDB_API_KEY}",  # an interpolation names a secret, it holds none
    }
    cleaned = redact(
        {
            "url": "https://u:hf-abcdefghijk@host",
            "note": "uses hf-abcdefghijk",
            "storage": "postgresql://user:pa55word@db-host:5432/optuna",
            "sqlite": "sqlite:///logs/search/optuna.db",
            "port": "http://host:8080/a@b",
        }
    )
    assert cleaned == {
        "url": f"https://u:{MASK}@host",
        "note": f"uses {MASK}",
        "storage": f"postgresql://user:{MASK}@db-host:5432/optuna",
        "sqlite": "sqlite:///logs/search/optuna.db",
        "port": "http://host:8080/a@b",
    }


def test_hydra_files_keep_ordinary_values_and_lose_typed_secrets(tmp_path):
    typed = ["+extras.api_key=choice-one-111,choice-two-222", "search.storage=mysql://me:hunter22@db/x"]
    register_override_secrets(typed)
    overrides = tmp_path / "overrides.yaml"
    overrides.write_text("".join(f"- {o}\n" for o in [*ORDINARY_OVERRIDES, *typed]))
    config = tmp_path / "config.yaml"
    config.write_text("".join(f"{k}: '{v}'\n" for k, v in ORDINARY.items()) + "password: choice-one-111\n")
    hydra = tmp_path / "hydra.yaml"
    hydra.write_text("override_dirname: +extras.api_key=choice-two-222,seed=1\n")
    redact_files([overrides, config, hydra])
    assert OmegaConf.to_container(OmegaConf.load(overrides)) == [
        *ORDINARY_OVERRIDES,
        f"+extras.api_key={MASK}",
        f"search.storage=mysql://me:{MASK}@db/x",
    ]
    assert OmegaConf.to_container(OmegaConf.load(config)) == {**ORDINARY, "password": MASK}
    text = "".join(p.read_text() for p in (overrides, config, hydra))
    assert "choice-" not in text and "hunter22" not in text
    assert not list(tmp_path.glob(".*"))  # no staging file left behind


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
