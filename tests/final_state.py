"""Test-only callback: the weights and optimizer state at the very end of fitting, whatever checkpoints
were or were not written then (``+callbacks.final_state._target_=tests.final_state.FinalState``)."""

from __future__ import annotations

from pathlib import Path

import torch
from lightning.pytorch import Callback, LightningModule, Trainer

FILE = "final_state.pt"


class FinalState(Callback):
    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        state = {
            "state_dict": pl_module.state_dict(),
            "optimizer_states": [optimizer.state_dict() for optimizer in trainer.optimizers],
            "global_step": trainer.global_step,
        }
        torch.save(state, Path(trainer.default_root_dir) / FILE)


def final_state(run_dir: str | Path) -> dict:
    return torch.load(Path(run_dir) / FILE, map_location="cpu", weights_only=True)
