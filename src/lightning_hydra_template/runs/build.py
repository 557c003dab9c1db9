"""Building a run's Lightning objects from config groups: callbacks, loggers, the Trainer's profiler."""

from __future__ import annotations

import contextlib
from typing import Any

from hydra.utils import instantiate
from lightning.pytorch.profilers import PassThroughProfiler
from omegaconf import DictConfig

_NO_CONTEXT = contextlib.nullcontext()


def instantiate_group(group: DictConfig | None) -> list[Any]:
    """Instantiate every entry of a group like ``callbacks`` or ``logger`` that has a ``_target_``.

    Entries set to null (e.g. ``callbacks.early_stopping=null``) are skipped.
    """
    if not group:
        return []
    objects = []
    for name, node in group.items():
        if node is None:
            continue
        if not isinstance(node, DictConfig) or "_target_" not in node:
            raise TypeError(f"config entry {name!r} has no _target_ to instantiate")
        objects.append(instantiate(node, _convert_="all"))
    return objects


def without_logger_only_callbacks(callbacks: list[Any], loggers: list[Any]) -> list[Any]:
    """``logger=none`` composes with every callback set: LR monitoring needs a logger, so it is left out."""
    if loggers:
        return callbacks
    from lightning.pytorch.callbacks import LearningRateMonitor

    return [cb for cb in callbacks if not isinstance(cb, LearningRateMonitor)]


def close_loggers(loggers: list[Any]) -> None:
    """Finish wandb runs, so each run of a multirun gets its own wandb run and offline files are complete."""
    from lightning.pytorch.loggers import WandbLogger

    if any(isinstance(logger, WandbLogger) for logger in loggers):
        import wandb

        wandb.finish()  # the run the logger started (wandb.run); nothing when it never started one


class NoProfiler(PassThroughProfiler):
    """Records nothing, like ``PassThroughProfiler``, without per-hook allocations.

    Lightning wraps every hook it calls (about 50 per training step with the default callbacks) in
    ``trainer.profiler.profile(name)``. Its default ``PassThroughProfiler`` builds a generator-based
    context manager for each of them; this one hands back the same empty context every time.
    """

    def profile(self, action_name: str) -> contextlib.AbstractContextManager[Any]:  # type: ignore[override]
        return _NO_CONTEXT


def default_profiler(trainer_cfg: Any) -> dict[str, Any]:
    """``{"profiler": NoProfiler()}`` unless the config names a profiler (e.g. ``debug=profiler``)."""
    if trainer_cfg.get("profiler"):
        return {}
    return {"profiler": NoProfiler()}
