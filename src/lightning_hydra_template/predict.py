"""Predict with a checkpoint: rebuild model and preprocessing from it -> read inputs -> predict -> write.

    make predict ckpt_path=logs/train/runs/<run>/checkpoints/last.ckpt               # its test split
    make predict ckpt_path=<ckpt> input=new_samples.npy output_format=parquet
    make predict ckpt_path=<ckpt> input=<folder of images>                          # an image_folder model

Writes <run dir>/predictions.csv (or .parquet): an id per row, then the predicted class with its name and
the class probabilities (classification), the prediction in original units (regression), or a mask file
and pixel counts per class (segmentation, masks in <run dir>/masks/).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from lightning_hydra_template.cli import hydra_entry
from lightning_hydra_template.config.errors import ConfigError
from lightning_hydra_template.config.validation import validate_config


def predict(cfg: DictConfig) -> dict[str, Any]:
    """Predict on ``cfg.input`` (default: the checkpoint's test split); returns what was written."""
    started = time.perf_counter()
    validate_config(cfg)
    if cfg.output_format not in ("csv", "parquet"):
        raise ConfigError("output_format", f"got {cfg.output_format!r}; allowed: csv, parquet")
    if not isinstance(cfg.batch_size, int) or isinstance(cfg.batch_size, bool) or cfg.batch_size < 1:
        raise ConfigError("batch_size", f"got {cfg.batch_size!r}; allowed: an integer >= 1")
    for field in ("devices", "num_nodes"):
        if (
            str(cfg.trainer.get(field, 1)) != "1"
        ):  # each process would write a share of the rows, or all of them
            raise ConfigError(
                f"trainer.{field}",
                f"got {cfg.trainer.get(field)!r}; allowed: 1 (make predict runs in one process, on one device)",
            )

    import lightning.pytorch as pl

    from lightning_hydra_template.deploy.inputs import held_out_inputs, read_inputs
    from lightning_hydra_template.deploy.loading import load_trained
    from lightning_hydra_template.deploy.outputs import write_predictions
    from lightning_hydra_template.runs.environment import (
        check_accelerator,
        configure_warnings,
        route_lightning_logs,
    )

    route_lightning_logs()
    configure_warnings(cfg.extras.get("ignore_warnings", True))
    check_accelerator(cfg.trainer.accelerator)
    if cfg.seed is not None:
        pl.seed_everything(cfg.seed, workers=True, verbose=False)

    trained = load_trained(cfg.ckpt_path)
    source = read_inputs(trained.datamodule, cfg.input) if cfg.input else held_out_inputs(trained.datamodule)
    trainer = predict_trainer(cfg.trainer)
    loader_options: dict[str, Any] = getattr(
        trained.datamodule, "loader_options", dict
    )()  # its workers decode files
    predictions = predict_inputs(trainer, trained.model, source.inputs, cfg.batch_size, loader_options)

    run_dir = Path(cfg.paths.output_dir)
    num_classes = predictions.shape[1] if trained.kind in ("classes", "masks") else 0
    table = write_predictions(
        run_dir, trained.kind, source.ids, predictions, trained.class_names(num_classes), cfg.output_format
    )
    report = {
        "ckpt_path": str(cfg.ckpt_path),
        "checkpoint_sha256": trained.sha256,
        "input": source.source,
        "samples": len(source.ids),
        "predictions": str(table),
        "wall_seconds": time.perf_counter() - started,
    }
    if trainer.is_global_zero:
        (run_dir / "predict.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
        print(f"Predicted {len(source.ids)} samples of the {source.source} with {cfg.ckpt_path}")
        print(f"  written to {table}")
    return report


def predict_trainer(trainer_cfg: DictConfig) -> Any:
    """The Trainer ``make predict`` runs: the configured one, with no logger and no checkpointing, and a
    progress bar on a terminal only. Every callback's hooks run on every predicted batch: a bar nobody sees
    (output to a file or a pipe) and a ModelCheckpoint that never saves would only cost time."""
    import sys

    from hydra.utils import instantiate

    from lightning_hydra_template.callbacks.progress import auto_progress_bar
    from lightning_hydra_template.runs.build import default_profiler

    shown = sys.stdout.isatty() and trainer_cfg.get("enable_progress_bar") is not False
    build = instantiate(trainer_cfg, _partial_=True)  # objects passed to instantiate are deep-copied: ~10 ms
    return build(
        callbacks=[auto_progress_bar("rich")] if shown else [],
        enable_progress_bar=shown,  # without a bar of ours Lightning would add its tqdm bar
        logger=False,
        enable_checkpointing=False,
        **default_profiler(trainer_cfg),
    )


class TensorBatches:
    """``(tensor[start : start + batch_size],)`` batches of a tensor: views, not rows copied and stacked.
    A plain iterable, not a DataLoader, which ``Trainer.predict`` would rebuild with an index-tracking
    sampler and step through a fetch per batch: that costs time per batch and gains nothing here."""

    def __init__(self, inputs: Any, batch_size: int) -> None:
        self.inputs, self.batch_size = inputs, batch_size

    def __len__(self) -> int:
        return -(-len(self.inputs) // self.batch_size)

    def __iter__(self) -> Any:
        for start in range(0, len(self.inputs), self.batch_size):
            yield (self.inputs[start : start + self.batch_size],)


def predict_inputs(
    trainer: Any, model: Any, inputs: Any, batch_size: int, loader_options: dict[str, Any] | None = None
) -> Any:
    """The model's predictions for ``inputs`` (a tensor or a dataset of ``(input, ...)`` samples), batched,
    on the Trainer's accelerator, in input order."""
    import torch
    from torch.utils.data import DataLoader, Dataset

    if isinstance(inputs, Dataset):
        loader: Any = DataLoader(inputs, batch_size=batch_size, shuffle=False, **(loader_options or {}))
    else:
        loader = TensorBatches(inputs, batch_size)
    batches = trainer.predict(model, dataloaders=loader)
    return torch.cat(batches) if batches else torch.empty(0)


main = hydra_entry("predict", predict)

if __name__ == "__main__":
    main()
