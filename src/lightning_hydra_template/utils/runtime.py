"""Run-time checks and defaults that need torch or a built Trainer (so not in utils.validation)."""

from __future__ import annotations

import logging
import warnings
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks.progress.progress_bar import ProgressBar
from omegaconf import DictConfig

from lightning_hydra_template.callbacks.progress import EpochLineProgress
from lightning_hydra_template.utils.errors import ConfigError
from lightning_hydra_template.utils.run_plan import RunPlan, plan_run

_NOISE = ("Tip:", "TPU available", "HPU available", "LitLogger")


def _not_noise(record: logging.LogRecord) -> bool:
    message = str(record.msg)
    return not any(part in message for part in _NOISE)


def route_lightning_logs() -> None:
    """Lightning's messages go through Hydra's handlers (console + <task>.log) exactly once,
    without its advertising tips."""
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
        if _not_noise not in logger.filters:
            logger.addFilter(_not_noise)
    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(_not_noise)


def configure_warnings(ignore: bool) -> None:
    if not ignore:
        return
    from lightning.fabric.utilities.warnings import PossibleUserWarning

    warnings.filterwarnings("ignore", category=PossibleUserWarning)
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    # debug=overfit turns shuffling off in the data config; Lightning cannot see that in our loader
    warnings.filterwarnings(
        "ignore", message=".*requested to overfit but enabled train dataloader shuffling.*"
    )


def check_accelerator(accelerator: str) -> None:
    """A requested device that this machine does not have is a config error, not a traceback."""
    if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        raise ConfigError(
            "trainer.accelerator",
            f"{accelerator} requested but no CUDA GPU is visible; use trainer=cpu or trainer.accelerator=auto",
        )
    if accelerator == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(
            "trainer.accelerator",
            "mps requested but Apple's Metal backend is not available; use trainer=cpu or trainer.accelerator=auto",
        )


def default_progress(callbacks: list[Any], trainer_cfg: DictConfig) -> list[Any]:
    """Without a configured progress display, use the per-epoch lines (never Lightning's tqdm bar)."""
    if (
        any(isinstance(cb, ProgressBar) for cb in callbacks)
        or trainer_cfg.get("enable_progress_bar") is False
    ):
        return []
    return [EpochLineProgress()]


def without_logger_only_callbacks(callbacks: list[Any], loggers: list[Any]) -> list[Any]:
    """``logger=none`` composes with every callback set: LR monitoring needs a logger, so it is left out."""
    if loggers:
        return callbacks
    from lightning.pytorch.callbacks import LearningRateMonitor

    return [cb for cb in callbacks if not isinstance(cb, LearningRateMonitor)]


def close_loggers(loggers: list[Any]) -> None:
    """Finish wandb runs, so each run of a multirun gets its own wandb run and offline files are complete."""
    from lightning.pytorch.loggers import WandbLogger

    for logger in loggers:
        if isinstance(logger, WandbLogger) and logger._experiment is not None:
            logger.experiment.finish()


def plan_for(cfg: DictConfig, datamodule: Any, trainer: pl.Trainer) -> RunPlan:
    """The run plan for this config, data and Trainer; rejects batch sizes the data cannot fill."""
    world_size = trainer.world_size
    train_samples = datamodule.num_samples("train")
    per_device = train_samples // world_size
    batch_size = datamodule.resolve_batch_size(world_size)
    if datamodule.drop_last and batch_size > per_device:
        raise ConfigError(
            "data.batch_size",
            f"{batch_size} is larger than the {per_device} training samples per device, and with "
            "data.drop_last=true every batch would be dropped; use a batch size <= "
            f"{per_device} or data.drop_last=false",
        )
    tcfg = cfg.trainer
    overfit = tcfg.get("overfit_batches") or 0
    return plan_run(
        train_samples,
        batch_size,
        int(tcfg.max_epochs),
        val_samples=datamodule.num_samples("val"),
        test_samples=datamodule.num_samples("test"),
        eval_batch_size=datamodule.resolve_eval_batch_size(world_size),
        drop_last=bool(datamodule.drop_last),
        accumulate_grad_batches=int(tcfg.get("accumulate_grad_batches") or 1),
        world_size=world_size,
        limit_train_batches=overfit or tcfg.get("limit_train_batches"),
        limit_val_batches=tcfg.get("limit_val_batches"),
        max_steps=int(tcfg.get("max_steps") or -1),
        fast_dev_run=tcfg.get("fast_dev_run") or False,
        check_val_every_n_epoch=int(tcfg.get("check_val_every_n_epoch") or 1),
    )
