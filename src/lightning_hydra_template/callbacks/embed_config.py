"""Stores the run's resolved config in every checkpoint, so a checkpoint alone rebuilds its run."""

from __future__ import annotations

from typing import Any

from lightning.pytorch import Callback, LightningModule, Trainer

from lightning_hydra_template.runs.checkpoint import CONFIG_KEY


class EmbedConfig(Callback):
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config  # plain containers only: checkpoints must load with weights_only=True

    def on_save_checkpoint(
        self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        checkpoint[CONFIG_KEY] = self.config
