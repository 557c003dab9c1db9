"""A task module's own checks: its config fields and monitored metric before a run starts (through
``TaskModule.check_config``), and its declared metric names when it is built."""

from __future__ import annotations

from collections.abc import Sequence

from omegaconf import DictConfig, OmegaConf

from lightning_hydra_template.config.errors import ConfigError
from lightning_hydra_template.config.validation import Check

# ``model.*`` fields every task module takes
TASK_FIELDS = [
    Check("model.channels_last", lambda v: isinstance(v, bool), "true or false", True),
    Check(
        "model.compile",
        lambda v: isinstance(v, (bool, dict)),
        "true, false or a mapping of torch.compile options",
        True,
    ),
]


def check_monitor_is_logged(config: DictConfig, logged: Sequence[str] | None, task: str) -> None:
    """``monitor.metric`` must be one of the ``logged`` validation metrics (unchecked when None)."""
    metric = OmegaConf.select(config, "monitor.metric", default=None, throw_on_missing=False)
    if logged and isinstance(metric, str) and metric not in logged:
        raise ConfigError(
            "monitor.metric",
            f"got {metric!r}; allowed: {', '.join(logged)} (the validation metrics {task} logs)",
        )


def check_declared_metrics(task: str, declared: Sequence[str] | None, built: Sequence[str]) -> None:
    """A task's ``metric_names`` must be the keys its ``build_metrics`` returns, so configs are checked
    against what it really logs."""
    if declared is not None and sorted(declared) != sorted(built):
        raise TypeError(f"{task}.metric_names {tuple(declared)} != build_metrics keys {sorted(built)}")
