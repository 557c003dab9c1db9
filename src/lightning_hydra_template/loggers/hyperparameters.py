"""Sending a run's hyperparameters to every logger: the resolved config with secrets masked, flattened
(``optimizer.lr``, ``data.batch_size``), the run plan's figures (``plan.*``) and its provenance
(``provenance.*``). TensorBoard's HPARAMS table gets the best and test metrics at the end of the run."""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf

from lightning_hydra_template.config.secrets import redact
from lightning_hydra_template.runs.provenance import provenance_params


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}, "c": [1, 2]}`` -> ``{"a.b": 1, "c": "[1, 2]"}``: scalars kept, lists as text."""
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat |= flatten(item, f"{prefix}.{key}" if prefix else str(key))
        return flat
    if isinstance(value, (list, tuple)):
        return {prefix: str(list(value))}
    return {prefix: value}


def run_hyperparameters(cfg: DictConfig, plan: Any = None, provenance: list[dict[str, Any]] | None = None):
    """The flat parameters trackers show for this run (the ``hydra`` node is left out)."""
    config = redact(OmegaConf.to_container(cfg, resolve=True))
    config.pop("hydra", None)
    params = flatten(config)
    if plan is not None:
        params |= flatten(plan.as_dict(), "plan")
    if provenance:
        params |= provenance_params(provenance[-1])
    return {k: ("" if v is None else v) for k, v in params.items()}


def hyperparameters_for(
    loggers: list[Any], cfg: DictConfig, plan: Any, provenance: list[dict[str, Any]]
) -> dict[str, Any]:
    """Send the run's parameters to every logger now (W&B config, CSV hparams.yaml) and return them;
    TensorBoard's table waits for the metrics (:func:`log_final_metrics`)."""
    params = run_hyperparameters(cfg, plan, provenance)
    for logger in loggers:
        logger.log_hyperparams(params)
    return params


def log_final_metrics(
    loggers: list[Any], params: dict[str, Any], monitor: str, best: float | None, test: dict[str, float]
) -> None:
    """TensorBoard HPARAMS: the parameters with ``hp/best_<monitor>`` and ``hp/<test metric>`` columns."""
    from lightning.pytorch.loggers import TensorBoardLogger

    metrics = {f"hp/{name}": value for name, value in test.items()}
    if best is not None:
        metrics[f"hp/best_{monitor}"] = best
    if not metrics:
        return
    for logger in loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.log_hyperparams(params, metrics=metrics, step=0)
            logger.finalize("success")
