"""Epochs count from 1 in everything a user reads: console lines, summary.json, checkpoint file names.

Lightning's own counters (``ckpt["epoch"]``, ``trainer.current_epoch``) count from 0 (docs/epochs.md).
"""

from __future__ import annotations

from pathlib import Path

import torch
from lightning.pytorch import callbacks

from lightning_hydra_template.callbacks.model_checkpoint import ModelCheckpoint
from tests.conftest import SYNTHETIC_MLP


def test_checkpoint_names_count_epochs_like_the_summary(make_cfg):
    from lightning_hydra_template.train import train

    overrides = [
        *SYNTHETIC_MLP,  # 16 optimizer steps per epoch
        "trainer.max_epochs=2",
        "~callbacks.early_stopping",
        "test=false",
        "callbacks.step_checkpoint.every_n_steps=7",
        "callbacks.step_checkpoint.filename='epoch{epoch}-step{step}.ckpt'",
    ]
    summary = train(make_cfg(overrides))
    best = Path(summary["best_checkpoint"])
    assert best.name == f"epoch_{summary['best_epoch']:03d}.ckpt"
    assert [row["epoch"] for row in summary["history"]] == [1, 2]
    # Lightning's counter inside the file still counts from 0
    assert torch.load(best, map_location="cpu", weights_only=True)["epoch"] == summary["best_epoch"] - 1
    steps = sorted(p.name for p in best.parent.glob("epoch?-step*.ckpt"))
    assert steps == [
        "epoch1-step14.ckpt",
        "epoch1-step7.ckpt",
        "epoch2-step21.ckpt",
        "epoch2-step28.ckpt",
        "epoch2-step32.ckpt",
    ]  # fmt: skip  (the last: the end of fitting)


def test_file_names_count_from_one_and_the_stored_state_key_is_lightnings(tmp_path):
    ours = ModelCheckpoint(
        dirpath=tmp_path, filename="epoch_{epoch:03d}-{step}", auto_insert_metric_name=False
    )
    metrics = {"epoch": torch.tensor(0), "step": torch.tensor(20)}
    assert Path(ours.format_checkpoint_name(metrics)).name == "epoch_001-20.ckpt"
    assert metrics["epoch"] == 0  # the caller's metrics are left as they were
    assert Path(ours.format_checkpoint_name(metrics, ours.CHECKPOINT_NAME_LAST)).name == "last.ckpt"
    # checkpoints written with Lightning's class restore this one's state, and the other way round
    settings = {"monitor": "val/acc", "mode": "max", "every_n_epochs": 1}
    assert ours.__class__(**settings).state_key == callbacks.ModelCheckpoint(**settings).state_key
