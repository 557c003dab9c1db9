"""Test a checkpoint: load it safely -> rebuild model and data from the config it carries -> test.

    make eval ckpt_path=logs/train/runs/<run>/checkpoints/last.ckpt

The test metrics equal those the training run reported for the same checkpoint.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from lightning_hydra_template.cli import hydra_entry
from lightning_hydra_template.config.validation import validate_config


def evaluate(cfg: DictConfig) -> dict[str, float]:
    """Test ``cfg.ckpt_path`` on the test split of the data it was trained on; returns the metrics."""
    started = time.perf_counter()
    validate_config(cfg)

    import lightning.pytorch as pl
    from hydra.utils import instantiate

    from lightning_hydra_template.callbacks.plots import TaskPlots
    from lightning_hydra_template.callbacks.progress import default_progress
    from lightning_hydra_template.runs.build import close_loggers, instantiate_group
    from lightning_hydra_template.runs.checkpoint import load_checkpoint, rebuild_model, training_config
    from lightning_hydra_template.runs.environment import (
        check_accelerator,
        configure_warnings,
        route_lightning_logs,
    )

    route_lightning_logs()
    configure_warnings(cfg.extras.get("ignore_warnings", True))
    check_accelerator(cfg.trainer.accelerator)
    checkpoint = load_checkpoint(cfg.ckpt_path)
    train_cfg = training_config(checkpoint, cfg.ckpt_path)
    if cfg.seed is not None:
        pl.seed_everything(cfg.seed, workers=True, verbose=False)

    datamodule = instantiate(train_cfg["data"])
    data_state = checkpoint.get(
        type(datamodule).__qualname__
    )  # where Lightning saves a datamodule's state_dict
    if data_state:  # e.g. a table's feature scaling, fitted when training: reused, not refitted
        datamodule.load_state_dict(data_state)
    model = rebuild_model(checkpoint, train_cfg, cfg.ckpt_path)
    del checkpoint
    # the task figures a training run writes when it tests (<kind>_test.png, confusion_matrix.png, ...)
    callbacks = [TaskPlots(enabled=cfg.extras.get("plots", True))]
    callbacks += default_progress(callbacks, cfg.trainer)
    loggers = instantiate_group(cfg.get("logger"))
    trainer: pl.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    results = trainer.test(model, datamodule=datamodule, verbose=False)
    metrics = {k: float(v) for k, v in (results[0] if results else {}).items()}
    close_loggers(loggers)

    if trainer.is_global_zero:
        run_dir = Path(cfg.paths.output_dir)
        report = {
            "ckpt_path": str(cfg.ckpt_path),
            "test": metrics,
            "wall_seconds": time.perf_counter() - started,
        }
        (run_dir / "metrics.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
        print("Test of " + str(cfg.ckpt_path))
        print("  " + " | ".join(f"{k} {v:.4f}" for k, v in sorted(metrics.items())))
        print(f"  written to {run_dir / 'metrics.json'}")
    return metrics


def _task(cfg: DictConfig) -> Any:
    return evaluate(cfg)


main = hydra_entry("eval", _task)

if __name__ == "__main__":
    main()
