"""Watches a run against its plan and gathers what the final summary reports."""

from __future__ import annotations

import time
import warnings
from typing import Any

from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.utilities.data import extract_batch_size

from lightning_hydra_template.runs.plan import RunPlan


class RunSummary(Callback):
    """Tracks the monitored metric's best value and epoch over the validations, fit wall time
    and samples seen; warns when the Trainer's real iteration count differs from the printed plan."""

    def __init__(self, monitor: str, mode: str, plan: RunPlan | None = None) -> None:
        self.monitor = monitor
        self.mode = mode
        self.plan = plan
        self.best_value: float | None = None
        self.best_epoch: int | None = None
        self.samples_seen = 0
        self.fit_seconds = 0.0
        self._fit_start: float | None = None

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._fit_start = time.perf_counter()
        planned = self.plan.iterations_per_epoch if self.plan else None
        if planned is not None and trainer.num_training_batches != planned:
            warnings.warn(
                f"run plan said {planned} iterations per epoch, the Trainer runs {trainer.num_training_batches}",
                stacklevel=1,
            )

    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        self.samples_seen += extract_batch_size(batch)  # tuple or dict batches

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        # after the module's on_validation_epoch_end has logged this epoch's values
        if trainer.sanity_checking or self.monitor not in trainer.callback_metrics:
            return
        value = float(trainer.callback_metrics[self.monitor])
        epoch = trainer.current_epoch + 1
        better = self.best_value is None or (
            value > self.best_value if self.mode == "max" else value < self.best_value
        )
        if better:
            self.best_value, self.best_epoch = value, epoch

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self._fit_start is not None:
            self.fit_seconds = time.perf_counter() - self._fit_start

    def state_dict(self) -> dict[str, Any]:
        return {"best_value": self.best_value, "best_epoch": self.best_epoch}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best_value = state_dict.get("best_value")
        self.best_epoch = state_dict.get("best_epoch")
