"""A task's optimizer and learning-rate scheduler, from their configs (plain dicts with ``_target_``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from hydra.utils import instantiate
from torch import Tensor

# Scheduler config keys that tell Lightning *when* to step; the rest goes to the scheduler's constructor.
SCHEDULER_LIGHTNING_KEYS = ("interval", "frequency", "monitor")


def build_optimizers(
    optimizer: Mapping[str, Any], scheduler: Mapping[str, Any] | None, params: Iterable[Tensor]
) -> Any:
    """What ``configure_optimizers`` returns: the optimizer, or it and its scheduler for Lightning."""
    built = instantiate(optimizer, params=params)
    scheduler_cfg = dict(scheduler or {})
    if not scheduler_cfg:
        return built
    lightning_keys = {k: scheduler_cfg.pop(k) for k in SCHEDULER_LIGHTNING_KEYS if k in scheduler_cfg}
    return {
        "optimizer": built,
        "lr_scheduler": {"scheduler": instantiate(scheduler_cfg, optimizer=built), **lightning_keys},
    }
