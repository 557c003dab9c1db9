"""Training curves inside an epoch: every ``trainer.log_every_n_steps`` optimizer steps the loggers get
the mean training loss over those steps, the learning rate and the samples per second, and the progress
display gets the same running loss.

A step only adds its loss to a sum kept on the device; the sum is read back once per logging point, so
no step waits for the device (a per-step ``.item()`` would stall the GPU queue every step).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.utilities.data import extract_batch_size
from torch import Tensor

LOSS = "train/loss_step"
LR = "train/lr"
SAMPLES_PER_SECOND = "train/samples_per_second"


def _batch_loss(outputs: Any) -> Tensor | None:
    loss = outputs.get("loss") if isinstance(outputs, Mapping) else outputs
    return loss.detach() if isinstance(loss, Tensor) else None


def learning_rates(trainer: Trainer) -> dict[str, float]:
    """``train/lr`` for the first optimizer's first parameter group; ``train/lr/<optimizer>.<group>``
    for any further ones."""
    rates: dict[str, float] = {}
    for i, optimizer in enumerate(trainer.optimizers):
        for j, group in enumerate(optimizer.param_groups):
            lr = group.get("lr")
            if lr is None:
                continue
            name = LR if (i, j) == (0, 0) else f"{LR}/{i}.{j}"
            rates[name] = float(lr)  # a Python float, or a CPU tensor for capturable optimizers
    return rates


class StepMetrics(Callback):
    """Logs ``train/loss_step`` (mean over the optimizer steps since the last point), ``train/lr`` and
    ``train/samples_per_second`` (training time only, validation left out) every ``every_n_steps``
    optimizer steps (default: ``trainer.log_every_n_steps``). :attr:`running_loss` holds the last mean
    for the progress display. Under DDP the loss is averaged and the samples summed over processes.
    """

    def __init__(self, every_n_steps: int | None = None) -> None:
        self.every_n_steps = every_n_steps
        self.running_loss: float | None = None
        self._sum: Tensor | None = None  # sum of the batch losses since the last point, on the device
        self._window_start = 0  # global step at the last point
        self._samples = 0
        self._seconds = 0.0
        self._clock: float | None = None

    def interval(self, trainer: Trainer) -> int:
        return self.every_n_steps or trainer.log_every_n_steps  # type: ignore[attr-defined]  # set by Lightning's logger connector

    # --- the training clock: validation is left out of samples/s ---------------------------
    def _start_clock(self) -> None:
        self._clock = time.perf_counter()

    def _stop_clock(self) -> None:
        if self._clock is not None:
            self._seconds += time.perf_counter() - self._clock
            self._clock = None

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.running_loss = self._sum = None
        self._window_start = trainer.global_step  # a resumed run starts its first window here
        self._samples, self._seconds = 0, 0.0

    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._start_clock()

    def on_validation_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not trainer.sanity_checking:
            self._stop_clock()

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not trainer.sanity_checking and trainer.training:  # a validation inside the epoch
            self._start_clock()

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._stop_clock()

    # --- per step: device-side sums only ----------------------------------------------------
    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        loss = _batch_loss(outputs)
        if loss is not None:
            if loss.ndim:
                loss = loss.sum()
            if self._sum is None or self._sum.device != loss.device:
                self._sum = torch.zeros((), dtype=_sum_dtype(loss.device), device=loss.device)
            # Lightning hands over loss / accumulate_grad_batches: the batches of one optimizer step
            # add up to that step's mean loss
            self._sum.add_(loss)
        self._samples += extract_batch_size(batch)
        step = trainer.global_step
        if step > self._window_start and step % self.interval(trainer) == 0:
            self._log(trainer, step)

    def _log(self, trainer: Trainer, step: int) -> None:
        steps, samples, total = step - self._window_start, self._samples, self._sum
        self._window_start, self._samples = step, 0
        metrics: dict[str, float] = {}
        if total is not None:
            if trainer.world_size > 1:  # every process reaches this step: a collective is safe here
                total = trainer.strategy.reduce(total, reduce_op="mean")
                samples *= trainer.world_size  # equal training shards per process
            self.running_loss = total.item() / steps  # the one read-back per logging point
            self._sum = None  # a fresh sum for the next window
            metrics[LOSS] = self.running_loss
        if self._clock is not None:  # after the read-back: the device's queued work is done
            self._stop_clock()
            self._start_clock()
        seconds, self._seconds = self._seconds, 0.0
        metrics |= learning_rates(trainer)
        if seconds > 0:
            metrics[SAMPLES_PER_SECOND] = samples / seconds
        for logger in trainer.loggers:
            # Lightning logs a value of optimizer step n (from 1) at x = n - 1, the epoch-end ones too:
            # the same axis keeps step and epoch points of one run aligned
            logger.log_metrics(metrics, step=step - 1)


def _sum_dtype(device: torch.device) -> torch.dtype:
    return torch.float32 if device.type == "mps" else torch.float64  # MPS has no float64


def running_loss(trainer: Trainer) -> float | None:
    """The last logged ``train/loss_step`` of the run's :class:`StepMetrics`, if any."""
    for callback in trainer.callbacks:  # type: ignore[attr-defined]  # set by Lightning's callback connector
        if isinstance(callback, StepMetrics):
            return callback.running_loss
    return None
