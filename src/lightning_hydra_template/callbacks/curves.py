"""Learning curves from the run's own logged values: ``curves.png`` in the run directory at the end of fit.

Values are read from ``trainer.callback_metrics`` at epoch ends, so the plot exists whichever loggers are
on (``logger=none`` included) and costs nothing per step.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lightning.pytorch import Callback, LightningModule, Trainer

from lightning_hydra_template.callbacks.plots import log_figure

CURVES_FILE = "curves.png"


class LearningCurves(Callback):
    """Per-epoch ``train/*`` and ``val/*`` values; draws training/validation loss and the monitored metric."""

    def __init__(self, monitor: str, filename: str = CURVES_FILE) -> None:
        self.monitor = monitor
        self.filename = filename
        self.history: dict[str, list[tuple[int, float]]] = {}
        self._pending_train_epoch: int | None = None
        self.path: Path | None = None

    def _record(self, trainer: Trainer, prefix: str, epoch: int) -> None:
        for key, value in trainer.callback_metrics.items():
            if key.startswith(prefix) and not key.endswith("_best") and value.numel() == 1:
                points = self.history.setdefault(key, [])
                if not points or points[-1][0] != epoch:
                    points.append((epoch, float(value)))

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not trainer.sanity_checking:
            self._record(trainer, "val/", trainer.current_epoch + 1)

    # Callbacks' on_train_epoch_end runs before the module's, which logs train/*: read them one hook later.
    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._pending_train_epoch = trainer.current_epoch + 1

    def _flush_train(self, trainer: Trainer) -> None:
        if self._pending_train_epoch is not None:
            self._record(trainer, "train/", self._pending_train_epoch)
            self._pending_train_epoch = None

    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._flush_train(trainer)

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._flush_train(trainer)
        if not trainer.is_global_zero or not self.history:
            return
        from lightning_hydra_template.utils.plotting import curves_figure, save_png

        figure = curves_figure(self.history, self.monitor)
        self.path = save_png(figure, Path(trainer.default_root_dir) / self.filename)
        log_figure(trainer, "plots/curves", figure)

    def state_dict(self) -> dict[str, Any]:
        return {"history": {k: [list(p) for p in v] for k, v in self.history.items()}}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        history = state_dict.get("history", {})
        self.history = {k: [(int(e), float(v)) for e, v in points] for k, points in history.items()}
