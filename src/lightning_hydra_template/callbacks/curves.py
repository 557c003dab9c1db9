"""Learning curves from the run's own per-epoch values: ``curves.png`` in the run directory after fitting.

The values come from :class:`EpochHistory` (``trainer.callback_metrics`` at epoch ends), so the plot exists
whichever loggers are on (``logger=none`` included) and costs nothing per step.
"""

from __future__ import annotations

from pathlib import Path

from lightning.pytorch import LightningModule, Trainer

from lightning_hydra_template.callbacks.epoch_history import EpochHistory
from lightning_hydra_template.callbacks.plots import log_figure

CURVES_FILE = "curves.png"


class LearningCurves(EpochHistory):
    """The epoch history, drawn at the end of fitting: training/validation loss, the monitored metric with
    its best epoch (by ``mode``) marked, and the learning rate."""

    def __init__(self, monitor: str, mode: str = "max", filename: str = CURVES_FILE) -> None:
        super().__init__()
        self.monitor = monitor
        self.mode = mode
        self.filename = filename
        self.path: Path | None = None

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        super().on_train_end(trainer, pl_module)
        series = self.series()
        if not trainer.is_global_zero or not series:
            return
        from lightning_hydra_template.utils.plotting import curves_figure, save_png

        figure = curves_figure(series, self.monitor, self.mode)
        self.path = save_png(figure, Path(trainer.default_root_dir) / self.filename)
        log_figure(trainer, "plots/curves", figure)
