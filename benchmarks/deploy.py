"""Using a trained model: ``make predict``'s prediction loop against a hand-written ``inference_mode`` loop,
and an exported ONNX network (onnxruntime, CPU) against the eager model at batch 1 and 64."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch


def trained_checkpoint(workdir: Path, epochs: int) -> Path:
    from lightning_hydra_template.config.compose import compose_run_config
    from lightning_hydra_template.train import train

    run_dir = workdir / "deploy_train"
    overrides = ["experiment=baseline", f"trainer.max_epochs={epochs}", "trainer.accelerator=cpu", "test=false",
                 "extras.plots=false", "logger=none", "~callbacks.model_summary", "callbacks.progress_bar.style=lines"]  # fmt: skip
    train(compose_run_config(overrides, run_dir, log_dir=workdir / "logs"))
    return run_dir / "checkpoints" / "last.ckpt"


def samples_per_second(run: Callable[[], Any], samples: int) -> float:
    started = time.perf_counter()
    run()
    return samples / (time.perf_counter() - started)


def predict_trainer_config(workdir: Path, ckpt: Path) -> Any:
    """``make predict``'s composed ``trainer`` config (on the CPU), as the template side builds it."""
    from lightning_hydra_template.config.compose import compose_run_config

    overrides = [f"ckpt_path={ckpt}", "trainer.accelerator=cpu"]
    return compose_run_config(overrides, workdir / "deploy_predict", config_name="predict").trainer


def template_predict(
    trainer_cfg: Any, model: Any, inputs: torch.Tensor, batch_size: int
) -> Callable[[], Any]:
    """What ``make predict`` runs between reading the inputs and writing the table: build its Trainer (a
    cost every prediction pays), then ``predict_inputs``."""
    from lightning_hydra_template.predict import predict_inputs, predict_trainer

    def run() -> Any:
        return predict_inputs(predict_trainer(trainer_cfg), model, inputs, batch_size)

    return run


def hand_predict(model: Any, inputs: torch.Tensor, batch_size: int) -> Callable[[], Any]:
    def run() -> Any:
        outputs = []
        with torch.inference_mode():
            for start in range(0, len(inputs), batch_size):
                outputs.append(model.predictions(model(inputs[start : start + batch_size])))
        return torch.cat(outputs)

    return run


def latency_ms(run: Callable[[], Any], calls: int) -> float:
    run()
    started = time.perf_counter()
    for _ in range(calls):
        run()
    return (time.perf_counter() - started) / calls * 1000
