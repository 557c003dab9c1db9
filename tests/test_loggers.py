"""Each logger is checked by reading back what it wrote."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from lightning_hydra_template.loggers.wandb import resolve_wandb_mode
from lightning_hydra_template.train import train
from tests.wandb_records import history_rows

EPOCHS = ["trainer.max_epochs=3", "model/net=mlp", "data.batch_size=256", "~callbacks.early_stopping"]


def _val_acc_by_epoch(summary: dict) -> list[float]:
    return [row["val/acc"] for row in summary["history"]]


def test_csv_and_tensorboard_hold_every_epoch(make_cfg):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    summary = train(make_cfg(["logger=many", *EPOCHS]))
    run_dir = Path(summary["run_dir"])
    expected = _val_acc_by_epoch(summary)
    assert len(expected) == 3

    with open(run_dir / "csv" / "metrics.csv") as handle:
        rows = list(csv.DictReader(handle))
    val_acc = [float(r["val/acc"]) for r in rows if r.get("val/acc")]
    assert val_acc == pytest.approx(expected)
    assert len([r for r in rows if r.get("train/loss")]) == 3
    assert [float(r["test/acc"]) for r in rows if r.get("test/acc")] == pytest.approx(
        [summary["test"]["test/acc"]]
    )

    events = EventAccumulator(str(run_dir / "tensorboard"))
    events.Reload()
    assert [e.value for e in events.Scalars("val/acc")] == pytest.approx(expected)
    assert len(events.Scalars("train/loss")) == 3


def test_wandb_writes_an_offline_run_without_credentials(make_cfg, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("NETRC", "/nonexistent")
    summary = train(make_cfg(["logger=wandb", *EPOCHS]))
    import wandb

    wandb.teardown()  # the wandb service flushes a run's file completely when it shuts down
    run_files = list((Path(summary["run_dir"]) / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(run_files) == 1
    rows = history_rows(run_files[0])
    val_acc = [float(r["val/acc"]) for r in rows if "val/acc" in r]
    assert val_acc == pytest.approx(_val_acc_by_epoch(summary))
    assert [float(r["test/acc"]) for r in rows if "test/acc" in r] == pytest.approx(
        [summary["test"]["test/acc"]]
    )


def test_wandb_mode_follows_credentials(monkeypatch, tmp_path):
    monkeypatch.setenv("NETRC", str(tmp_path / "missing"))
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    assert resolve_wandb_mode("auto") == "offline"
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    assert resolve_wandb_mode("auto") == "online"
    monkeypatch.delenv("WANDB_API_KEY")
    netrc = tmp_path / "netrc"
    netrc.write_text("machine api.wandb.ai\n  login user\n  password " + "y" * 40 + "\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    assert resolve_wandb_mode("auto") == "online"
    assert resolve_wandb_mode("disabled") == "disabled"
    with pytest.raises(ValueError, match="logger.wandb.mode"):
        resolve_wandb_mode("sometimes")
