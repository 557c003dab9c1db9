"""Regression: MSE loss on standardised targets; MAE, RMSE and R2 in the original units per stage."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torchmetrics import MetricCollection
from torchmetrics.regression import MeanAbsoluteError, MeanSquaredError, R2Score

from lightning_hydra_template.models.base import TaskModule


class RegressorModule(TaskModule):
    """Tracks the best validation R2 as ``val/r2_best``.

    The datamodule's target scaling (``target_mean``, ``target_std``) is copied into buffers when fitting
    starts, so checkpoints carry it and :meth:`predict_step` answers in the original units.
    """

    best_metric = ("r2", "max")
    metric_names = ("mae", "rmse", "r2")
    plot_kind = "regression"
    target_mean: Tensor  # buffers, registered in __init__
    target_std: Tensor

    def __init__(
        self,
        net: Mapping[str, Any],
        optimizer: Mapping[str, Any],
        scheduler: Mapping[str, Any] | None = None,
        compile: bool | Mapping[str, Any] = False,
        channels_last: bool = False,  # stored by every TaskModule; only 4-d inputs are affected
    ) -> None:
        super().__init__(
            net=net, optimizer=optimizer, scheduler=scheduler, compile=compile, channels_last=channels_last
        )
        self.register_buffer("target_mean", torch.zeros(()))
        self.register_buffer("target_std", torch.ones(()))

    def setup(self, stage: str) -> None:
        super().setup(stage)
        datamodule = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        if stage == "fit" and datamodule is not None and hasattr(datamodule, "target_mean"):
            self.target_mean.fill_(float(datamodule.target_mean))
            self.target_std.fill_(float(datamodule.target_std))

    def build_metrics(self, prefix: str) -> MetricCollection:
        return MetricCollection(
            {"mae": MeanAbsoluteError(), "rmse": MeanSquaredError(squared=False), "r2": R2Score()},
            prefix=prefix,
        )

    def compute_loss(self, outputs: Tensor, targets: Tensor) -> Tensor:
        return F.mse_loss(outputs, targets)

    def to_original_units(self, scaled: Tensor) -> Tensor:
        return scaled * self.target_std + self.target_mean

    def metric_inputs(self, outputs: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
        return self.to_original_units(outputs).flatten(), self.to_original_units(targets).flatten()

    def predictions(self, outputs: Tensor) -> Tensor:
        """Predictions in the original target units."""
        return self.to_original_units(outputs)

    def plot_arrays(self, inputs: Tensor, targets: Tensor) -> dict[str, Tensor]:
        """True and predicted values in the original units, for the regression plot."""
        return {
            "true": self.to_original_units(targets).flatten(),
            "pred": self.to_original_units(self(inputs)).flatten(),
        }
