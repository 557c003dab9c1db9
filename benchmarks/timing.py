"""Timing helpers shared by the benchmark sides: training-phase clocks that add no per-step work."""

from __future__ import annotations

import time
from typing import Any, ClassVar

from lightning.pytorch import Callback, LightningModule, Trainer


def synchronize(device: Any) -> None:
    """Wait for queued GPU work, so that wall-clock times include it."""
    import torch

    if str(device).startswith("cuda"):
        torch.cuda.synchronize(device)


class TrainPhaseTimer(Callback):
    """Sums the wall time of the training part of every epoch (first batch fetch to the last optimizer
    step, before validation) and counts the optimizer steps. Epoch-level hooks only: no per-step cost.

    Process CPU time is kept too: on a shared machine it is steadier than wall time (with one torch
    thread it is the step's own work, without the waits for a busy core).

    Instances register themselves in :attr:`instances` so that a benchmark can read the figures of a
    run it started through the config.
    """

    instances: ClassVar[list[TrainPhaseTimer]] = []

    def __init__(self) -> None:
        self.train_seconds = 0.0
        self.train_cpu_seconds = 0.0
        self.fit_seconds = 0.0
        self.steps = 0
        self._epoch_start: float | None = None
        self._epoch_cpu_start = 0.0
        self._fit_start = 0.0
        self._step_at_start = 0
        TrainPhaseTimer.instances.append(self)

    def _close(self, trainer: Trainer) -> None:
        if self._epoch_start is None:
            return
        synchronize(trainer.strategy.root_device)
        self.train_seconds += time.perf_counter() - self._epoch_start
        self.train_cpu_seconds += time.process_time() - self._epoch_cpu_start
        self._epoch_start = None

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._fit_start = time.perf_counter()
        self._step_at_start = trainer.global_step

    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        synchronize(trainer.strategy.root_device)
        self._epoch_start = time.perf_counter()
        self._epoch_cpu_start = time.process_time()

    def on_validation_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not trainer.sanity_checking:
            self._close(trainer)

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._close(trainer)

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        synchronize(trainer.strategy.root_device)
        self.fit_seconds = time.perf_counter() - self._fit_start
        self.steps = trainer.global_step - self._step_at_start


# Environment variable naming the file where FirstStepProbe writes its clock reading.
FIRST_STEP_FILE_ENV = "LHT_BENCH_FIRST_STEP_FILE"


class FirstStepProbe(Callback):
    """Start-up probe: writes ``time.time()`` after the first optimizer step to the file named by
    ``$LHT_BENCH_FIRST_STEP_FILE``, then ends the process at once (the benchmark needs no more)."""

    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        import os

        synchronize(trainer.strategy.root_device)
        stamp = time.time()
        path = os.environ.get(FIRST_STEP_FILE_ENV)
        if path:
            with open(path, "w") as handle:
                handle.write(repr(stamp))
            os._exit(0)
