"""The process a run lives in: Lightning's log routing, warning filters, the requested device."""

from __future__ import annotations

import logging
import warnings

import torch

from lightning_hydra_template.config.devices import CPU_HINT, check_accelerator_cheaply
from lightning_hydra_template.config.errors import ConfigError

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
    """A requested device that this machine does not have is a config error, not a traceback.

    The cheap signs (config/devices.py) decide first; torch answers what they cannot.
    """
    check_accelerator_cheaply(accelerator)
    if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        raise ConfigError(
            "trainer.accelerator",
            f"{accelerator} requested but no CUDA GPU is visible; {CPU_HINT}",
        )
    if accelerator == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(
            "trainer.accelerator",
            f"mps requested but Apple's Metal backend is not available; {CPU_HINT}",
        )
    if accelerator == "tpu":
        from lightning.fabric.accelerators import XLAAccelerator

        if not XLAAccelerator.is_available():
            raise ConfigError("trainer.accelerator", f"tpu requested but no TPU is visible; {CPU_HINT}")
