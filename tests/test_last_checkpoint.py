"""``last.ckpt`` holds the end of the run (global step, epoch, weights), whether or not the monitored
metric improved, with and without the ModelCheckpoint, and with step checkpoints in between."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from lightning.pytorch import Callback

from lightning_hydra_template.train import train
from tests.conftest import SYNTHETIC_MLP

# 1000 training samples / 256 = 4 optimizer steps per epoch, 12 in all; step checkpoints at 7.
# val/loss falls epoch after epoch, so with mode=max the best checkpoint stays the first epoch's.
STALLED = [
    *SYNTHETIC_MLP,
    "data.batch_size=256",
    "trainer.max_epochs=3",
    "test=false",
    "callbacks.early_stopping=null",
    "monitor.metric=val/loss",
    "monitor.mode=max",
    "callbacks.step_checkpoint.every_n_steps=7",
]


class FinalWeights(Callback):
    def on_fit_end(self, trainer, pl_module) -> None:
        self.state = {k: v.detach().clone() for k, v in pl_module.state_dict().items()}


@pytest.mark.parametrize("checkpointing", ["model_checkpoint", "step_checkpoint_only"])
def test_last_checkpoint_holds_the_final_step_when_the_metric_stopped_improving(make_cfg, checkpointing):
    # budget: one tiny 3-epoch MLP run, ~5 s
    final = FinalWeights()
    extra = ["~callbacks.model_checkpoint"] if checkpointing == "step_checkpoint_only" else []
    cfg = make_cfg([*STALLED, *extra])
    summary = train(cfg, extra_callbacks=[final])
    assert summary["global_step"] == 12
    (last,) = Path(cfg.paths.output_dir).rglob("last.ckpt")
    saved = torch.load(last, map_location="cpu", weights_only=True)
    assert saved["global_step"] == 12
    # Lightning's epoch counter: 2 (0-based) when saved at the third epoch's end, 3 (epochs done) at the
    # end of fitting, where StepCheckpoint saves without a LastCheckpoint
    assert saved["epoch"] == (2 if checkpointing == "model_checkpoint" else 3)
    assert saved["state_dict"].keys() == final.state.keys()
    for name, value in final.state.items():
        assert torch.equal(saved["state_dict"][name], value), name
    if checkpointing == "model_checkpoint":
        assert summary["best_epoch"] == 1  # the metric stopped improving after the first epoch
        best = torch.load(summary["best_checkpoint"], map_location="cpu", weights_only=True)
        assert best["global_step"] == 4
