"""Figures people look at instead of reading logs: regression plots, segmentation grids, confusion matrices.

They are drawn at epoch ends only (never per step), on rank zero, and sent to every logger that takes
images (TensorBoard, wandb; CSV takes none). PNGs go into the run directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import Callback, LightningModule, Trainer

# Plot kinds a LightningModule can declare with ``plot_kind``; ``None`` = all samples of the split.
SAMPLES_PER_KIND: dict[str, int | None] = {"regression": None, "segmentation": 8}


def image_loggers(trainer: Trainer) -> list[Any]:
    """The trainer's loggers that take images (TensorBoard, wandb)."""
    from lightning.pytorch.loggers import TensorBoardLogger, WandbLogger

    return [logger for logger in trainer.loggers if isinstance(logger, (TensorBoardLogger, WandbLogger))]


def log_figure(trainer: Trainer, tag: str, figure: Any) -> None:
    """Send a matplotlib figure to each active logger that takes images."""
    from lightning.pytorch.loggers import TensorBoardLogger

    from lightning_hydra_template.utils.plotting import to_rgb_array

    image = None
    for logger in image_loggers(trainer):
        image = to_rgb_array(figure) if image is None else image
        if isinstance(logger, TensorBoardLogger):
            logger.experiment.add_image(tag, image, global_step=trainer.global_step, dataformats="HWC")
        else:
            logger.log_image(key=tag, images=[image], step=trainer.global_step)


def run_dir(trainer: Trainer) -> Path:
    return Path(trainer.default_root_dir)


class TaskPlots(Callback):
    """Draws the plot of the module's ``plot_kind`` ("regression": predicted vs. true; "segmentation":
    input / true mask / predicted mask) on fixed validation samples every ``every_n_epochs`` validation
    epochs; at the end of fitting and of testing it writes ``<kind>_val.png`` / ``<kind>_test.png``.
    At test time it also draws the module's ``confusion_matrix`` when it has one (``confusion_matrix.png``).
    """

    def __init__(self, every_n_epochs: int = 1, num_images: int = 8, enabled: bool = True) -> None:
        if every_n_epochs < 0:
            raise ValueError(f"every_n_epochs must be >= 0 (0 = only at the end), got {every_n_epochs}")
        self.every_n_epochs = every_n_epochs
        self.num_images = num_images
        self.enabled = enabled
        self.written: list[Path] = []

    def _active(self, trainer: Trainer) -> bool:
        return self.enabled and trainer.is_global_zero

    def _figure(self, trainer: Trainer, pl_module: LightningModule, split: str, title: str) -> Any | None:
        kind = getattr(pl_module, "plot_kind", None)
        datamodule = getattr(trainer, "datamodule", None)  # set by Lightning while it runs, not declared
        splits = getattr(datamodule, "splits", None)
        if kind not in SAMPLES_PER_KIND or not splits or split not in splits:
            return None
        limit = SAMPLES_PER_KIND[kind] and self.num_images
        inputs, targets = (t[:limit] if limit else t for t in splits[split][:2])
        if len(inputs) == 0:
            return None
        was_training = pl_module.training
        pl_module.eval()
        with torch.inference_mode():
            # a task with a plot_kind has plot_arrays; nn.Module types unknown attributes as Tensor | Module
            arrays = pl_module.plot_arrays(inputs.to(pl_module.device), targets.to(pl_module.device))  # type: ignore[operator]
        pl_module.train(was_training)
        arrays = {k: v.detach().float().cpu().numpy() for k, v in arrays.items()}

        from lightning_hydra_template.utils import plotting

        if kind == "regression":
            return plotting.regression_figure(arrays["true"], arrays["pred"], title)
        names = getattr(pl_module, "class_names", None) or [
            str(i) for i in range(int(arrays["true"].max()) + 1)
        ]
        return plotting.segmentation_grid(arrays["images"], arrays["true"], arrays["pred"], names, title)

    def _emit(self, trainer: Trainer, figure: Any, tag: str | None, png: str | None) -> None:
        from lightning_hydra_template.utils.plotting import save_png

        if tag:
            log_figure(trainer, tag, figure)
        if png:
            self.written.append(save_png(figure, run_dir(trainer) / png))

    def on_validation_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.sanity_checking or not self._active(trainer) or self.every_n_epochs == 0:
            return
        if not image_loggers(trainer):
            return  # nothing would receive the figure (e.g. logger=csv): do not draw it
        epoch = trainer.current_epoch + 1
        if epoch % self.every_n_epochs:
            return
        figure = self._figure(trainer, pl_module, "val", f"validation, epoch {epoch}")
        if figure is not None:
            self._emit(trainer, figure, f"plots/val_{pl_module.plot_kind}", None)

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not self._active(trainer):
            return
        figure = self._figure(trainer, pl_module, "val", f"validation, last epoch ({trainer.current_epoch})")
        if figure is not None:
            # already logged by the last validation epoch; only the PNG is new
            self._emit(trainer, figure, None, f"{pl_module.plot_kind}_val.png")

    def on_test_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not self._active(trainer):
            return
        kind = getattr(pl_module, "plot_kind", None)
        for split in ("val", "test"):
            figure = self._figure(trainer, pl_module, split, f"{split} split, tested weights")
            if figure is not None:
                self._emit(trainer, figure, f"plots/{split}_{kind}_final", f"{kind}_{split}.png")
        matrix = getattr(pl_module, "confusion_matrix", None)
        if matrix is not None:
            from lightning_hydra_template.utils.plotting import confusion_figure

            names = getattr(pl_module, "class_names", None) or [str(i) for i in range(len(matrix))]
            figure = confusion_figure(matrix.numpy(), names, "test confusion matrix")
            self._emit(trainer, figure, "plots/test_confusion_matrix", "confusion_matrix.png")
