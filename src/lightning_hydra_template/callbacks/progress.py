"""Progress display: Rich bars in a terminal, one plain line per epoch anywhere else."""

from __future__ import annotations

import sys
import time
from typing import Any

from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import RichProgressBar
from lightning.pytorch.callbacks.progress.progress_bar import ProgressBar

from lightning_hydra_template.callbacks.step_metrics import running_loss


def _format(value: Any) -> str:
    number = float(value)
    return f"{number:.4g}" if abs(number) < 1e4 else f"{number:.3e}"


class EpochLineProgress(ProgressBar):
    """Prints one line per finished epoch: its train and validation metrics and wall time.

    No per-step work at all, so logs stay readable and the training loop stays fast. A line is
    printed once the epoch's own end-of-epoch logging is done (at the next epoch start or at the end).
    """

    def __init__(self) -> None:
        super().__init__()
        self._enabled = True
        self._epoch_start = 0.0
        self._pending: int | None = None

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    def _flush(self, trainer: Trainer) -> None:
        if self._pending is None or not self._enabled or trainer.global_rank != 0:
            self._pending = None
            return
        metrics = trainer.callback_metrics
        parts = []
        for stage in ("train/", "val/"):
            names = sorted(k for k in metrics if k.startswith(stage))
            if names:
                parts.append(" ".join(f"{k} {_format(metrics[k])}" for k in names))
        total = trainer.max_epochs if trainer.max_epochs and trainer.max_epochs > 0 else "?"
        elapsed = time.perf_counter() - self._epoch_start
        line = f"epoch {self._pending + 1}/{total} | " + " | ".join(parts) + f" | {elapsed:.1f}s"
        print(line, flush=True)
        self._pending = None

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._epoch_start = time.perf_counter()  # a resumed run starts inside an epoch

    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._flush(trainer)
        self._epoch_start = time.perf_counter()

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._pending = trainer.current_epoch

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._flush(trainer)

    def on_exception(self, trainer: Trainer, pl_module: LightningModule, exception: BaseException) -> None:
        self._pending = None


class ThrottledRichProgress(RichProgressBar):
    """Rich bars whose per-batch cost is one clock read: the bars and their metrics are brought up to
    date at most every ``min_interval`` seconds and at the last batch of each loop.

    Lightning's ``RichProgressBar`` updates its bar and re-reads the progress-bar metrics after every
    batch, which costs more than a small network's whole step. The metrics shown start with ``loss``, the
    running training loss of the last step-logging point, and end with the last validation's metrics. Its training bar also counts epochs
    from 0 ("Epoch 0/5" for 6 epochs); this one says "Epoch 1/6", like the rest of the run's output.
    """

    def __init__(self, refresh_rate: int = 1, leave: bool = True, min_interval: float = 0.25) -> None:
        super().__init__(refresh_rate=refresh_rate, leave=leave)
        self.min_interval = min_interval
        self._last_draw = float("-inf")
        self._numbered: tuple[Any, int] | None = None  # (training bar, epoch) whose description is set
        self._validation: dict[str, float] = {}  # the last validation's metrics, read once per validation

    def _due(self, batch_idx: int, total: float) -> bool:
        now = time.monotonic()
        if now - self._last_draw >= self.min_interval or batch_idx + 1 >= total:
            self._last_draw = now
            return True
        return False

    def _epoch_description(self, trainer: Trainer) -> str:
        """``Epoch <n>/<max_epochs>``, counted from 1 (``Epoch <n>`` when the number of epochs is open)."""
        text = f"Epoch {trainer.current_epoch + 1}"
        if trainer.max_epochs is not None and trainer.max_epochs > 0:
            text += f"/{trainer.max_epochs}"
        return f"{text:{len(self.validation_description)}}"  # as wide as the validation bar: no flicker

    def get_metrics(self, trainer: Trainer, pl_module: LightningModule) -> dict[str, Any]:
        """Lightning's items plus ``loss``: the running training loss, as last logged by
        :class:`~lightning_hydra_template.callbacks.step_metrics.StepMetrics` (no read-back here)."""
        items = {**super().get_metrics(trainer, pl_module), **self._validation}
        if (loss := running_loss(trainer)) is not None:
            items = {"loss": loss, **items}
        return items

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not trainer.sanity_checking:  # after the module logged the epoch's values
            metrics = trainer.callback_metrics
            self._validation = {k: float(v) for k, v in sorted(metrics.items()) if k.startswith("val/")}
        super().on_validation_end(trainer, pl_module)

    def _number_epoch_from_one(self, trainer: Trainer) -> None:
        bar = self.train_progress_bar_id
        if self.progress is None or bar is None or self._numbered == (bar, trainer.current_epoch):
            return
        text = self._epoch_description(trainer)
        style = self.theme.description
        self.progress.update(bar, description=f"[{style}]{text}" if style else text)
        self._numbered = (bar, trainer.current_epoch)

    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        super().on_train_epoch_start(trainer, pl_module)
        self._number_epoch_from_one(trainer)

    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if self._due(batch_idx, self.total_train_batches):
            super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
            self._number_epoch_from_one(trainer)  # a run resumed mid-epoch gets its bar here

    def on_validation_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if self._due(batch_idx, self.total_val_batches_current_dataloader):
            super().on_validation_batch_end(trainer, pl_module, outputs, batch, batch_idx, dataloader_idx)

    def on_test_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if self._due(batch_idx, self.total_test_batches_current_dataloader):
            super().on_test_batch_end(trainer, pl_module, outputs, batch, batch_idx, dataloader_idx)

    def on_predict_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if self._due(batch_idx, self.total_predict_batches_current_dataloader):
            super().on_predict_batch_end(trainer, pl_module, outputs, batch, batch_idx, dataloader_idx)


def auto_progress_bar(style: str = "auto", refresh_rate: int = 1, min_interval: float = 0.25) -> ProgressBar:
    """``rich`` or ``lines``; ``auto`` picks Rich when standard output is a terminal."""
    if style not in ("auto", "rich", "lines"):
        raise ValueError(f"callbacks.progress_bar.style must be auto, rich or lines, got {style!r}")
    if style == "rich" or (style == "auto" and sys.stdout.isatty()):
        return ThrottledRichProgress(refresh_rate=refresh_rate, leave=True, min_interval=min_interval)
    return EpochLineProgress()


def default_progress(callbacks: list[Any], trainer_cfg: Any) -> list[Any]:
    """Without a configured progress display, use the per-epoch lines (never Lightning's tqdm bar)."""
    if (
        any(isinstance(cb, ProgressBar) for cb in callbacks)
        or trainer_cfg.get("enable_progress_bar") is False
    ):
        return []
    return [EpochLineProgress()]
