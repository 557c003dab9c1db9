"""What every task module shares: network from config, optimizer/scheduler from config,
per-stage loss and metrics updated per step and computed per epoch."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import lightning.pytorch as pl
import torch
from hydra.utils import instantiate
from torch import Tensor
from torchmetrics import MeanMetric, MetricCollection
from torchmetrics.aggregation import MaxMetric, MinMetric

from lightning_hydra_template.config.plain import to_plain
from lightning_hydra_template.models.step_buffer import StepBuffer

# Scheduler config keys that tell Lightning *when* to step; the rest goes to the scheduler's constructor.
SCHEDULER_LIGHTNING_KEYS = ("interval", "frequency", "monitor")


class TaskModule(pl.LightningModule):
    """Base LightningModule. Subclasses define the loss, the metrics and the tracked best metric.

    Hyperparameters are plain dicts (network, optimizer and scheduler configs with ``_target_``),
    so a checkpoint rebuilds the module with ``load_from_checkpoint`` under ``weights_only=True``.
    """

    best_metric: tuple[str, str] = ("loss", "min")  # (metric name without stage, "min" | "max")
    # How `make predict` writes predictions: "classes" (probabilities per class), "masks" (class
    # probabilities per pixel) or "values" (one column per output).
    prediction_kind = "values"

    def __init__(
        self,
        net: Mapping[str, Any],
        optimizer: Mapping[str, Any],
        scheduler: Mapping[str, Any] | None = None,
        compile: bool | Mapping[str, Any] = False,
        channels_last: bool = False,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(
            {
                "net": to_plain(net),
                "optimizer": to_plain(optimizer),
                "scheduler": to_plain(scheduler) or None,
                "compile": to_plain(compile) if isinstance(compile, Mapping) else compile,
                "channels_last": channels_last,
                **self.extra_hparams(),
            },
            logger=False,
        )
        self.net = instantiate(self.hparams.net)
        self.train_metrics = self.build_metrics("train/")
        self.val_metrics = self.build_metrics("val/")
        self.test_metrics = self.build_metrics("test/")
        self.val_loss = MeanMetric()
        self.test_loss = MeanMetric()
        name, mode = self.best_metric
        self.val_best = MaxMetric() if mode == "max" else MinMetric()
        # Running training-loss sums, filled from the step buffer (no metric update per step).
        self.register_buffer("_train_loss_sum", torch.zeros((), dtype=torch.float64), persistent=False)
        self.register_buffer("_train_count", torch.zeros((), dtype=torch.float64), persistent=False)
        self._channels_last = bool(channels_last)
        # Training steps keep their outputs here; the metrics see them in a few large updates.
        self._train_steps = StepBuffer()

    # --- for subclasses ---------------------------------------------------------------------
    def extra_hparams(self) -> dict[str, Any]:
        """Task-specific constructor arguments to store in checkpoints."""
        return {}

    def build_metrics(self, prefix: str) -> MetricCollection:
        raise NotImplementedError

    def compute_loss(self, outputs: Tensor, targets: Tensor) -> Tensor:
        raise NotImplementedError

    def metric_inputs(self, outputs: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
        return outputs, targets

    # --- forward ----------------------------------------------------------------------------
    def setup(self, stage: str) -> None:
        if self.hparams.get("channels_last"):
            self.net.to(memory_format=torch.channels_last)  # 4-d weights only; the others are unaffected
        if self.hparams.compile and "_compiled_net" not in self.__dict__:
            # Kept out of the module tree so state_dict keys stay those of the plain network:
            # checkpoints of compiled and uncompiled runs are interchangeable.
            options = self.hparams.compile
            self.__dict__["_compiled_net"] = torch.compile(
                self.net, **(dict(options) if isinstance(options, Mapping) else {})
            )

    def forward(self, inputs: Tensor) -> Tensor:
        if self._channels_last and inputs.dim() == 4:
            inputs = inputs.contiguous(memory_format=torch.channels_last)  # no copy when it already is
        net = self.__dict__.get("_compiled_net", self.net)
        return net(inputs)

    # --- steps ------------------------------------------------------------------------------
    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        inputs, targets = batch
        outputs = self(inputs)
        loss = self.compute_loss(outputs, targets)
        kept = outputs.detach()
        if "_compiled_net" in self.__dict__:
            kept = kept.clone()  # CUDA-graph modes of torch.compile reuse output memory on the next step
        if self._train_steps.add(kept, targets, loss.detach(), targets.shape[0]):
            self._flush_train_steps()
        return loss

    def flush_running_state(self) -> None:
        """Hand buffered training steps to the metrics and loss sums (before they are saved or read)."""
        self._flush_train_steps()

    def _flush_train_steps(self) -> None:
        self._train_steps.flush(
            lambda outputs, targets: self.train_metrics.update(*self.metric_inputs(outputs, targets))
        )
        self._train_steps.flush_loss(self._train_loss_sum, self._train_count)

    def _eval_step(self, stage: str, batch: tuple[Tensor, Tensor]) -> Tensor:
        inputs, targets = batch
        outputs = self(inputs)
        loss = self.compute_loss(outputs, targets)
        getattr(self, f"{stage}_loss").update(loss, weight=targets.shape[0])
        getattr(self, f"{stage}_metrics").update(*self.metric_inputs(outputs, targets))
        return outputs  # for subclasses that update more test-only state (e.g. a confusion matrix)

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._eval_step("val", batch)

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._eval_step("test", batch)

    def predictions(self, outputs: Tensor) -> Tensor:
        """What a prediction reports for the network's raw outputs (``make predict``, exported models)."""
        return outputs

    def predict_step(self, batch: tuple[Tensor, ...], batch_idx: int) -> Tensor:
        return self.predictions(self(batch[0]))

    # --- epoch ends: compute, log, reset ----------------------------------------------------
    def on_train_epoch_start(self) -> None:
        self._train_steps.clear()  # an epoch interrupted before its end leaves nothing behind

    def on_train_epoch_end(self) -> None:
        self._flush_train_steps()
        totals = torch.stack([self._train_loss_sum, self._train_count])
        totals = self.trainer.strategy.reduce(totals, reduce_op="sum")
        values = {"train/loss": (totals[0] / totals[1].clamp(min=1)).float()}
        values.update(self.train_metrics.compute())
        self.log_dict(values)
        self.train_metrics.reset()
        self._train_loss_sum.zero_()
        self._train_count.zero_()

    def _log_eval_epoch(self, stage: str) -> dict[str, Tensor]:
        metrics = getattr(self, f"{stage}_metrics")
        loss = getattr(self, f"{stage}_loss")
        values = {f"{stage}/loss": loss.compute(), **metrics.compute()}
        metrics.reset()
        loss.reset()
        return values

    def on_validation_epoch_end(self) -> None:
        values = self._log_eval_epoch("val")
        if not self.trainer.sanity_checking:
            name, _ = self.best_metric
            self.val_best.update(values[f"val/{name}"])
            values[f"val/{name}_best"] = self.val_best.compute()
        self.log_dict(values)

    def on_test_epoch_end(self) -> None:
        self.log_dict(self._log_eval_epoch("test"))

    # --- optimisation -----------------------------------------------------------------------
    def configure_optimizers(self) -> Any:
        optimizer = instantiate(self.hparams.optimizer, params=self.parameters())
        scheduler_cfg = dict(self.hparams.scheduler or {})
        if not scheduler_cfg:
            return optimizer
        lightning_keys = {k: scheduler_cfg.pop(k) for k in SCHEDULER_LIGHTNING_KEYS if k in scheduler_cfg}
        scheduler = instantiate(scheduler_cfg, optimizer=optimizer)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, **lightning_keys}}
