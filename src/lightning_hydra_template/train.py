"""Train a model: compose config -> build data, model, callbacks, loggers, trainer -> fit ->
test the best checkpoint -> summary.

    make train experiment=baseline trainer.max_epochs=3
    python -m lightning_hydra_template.train optimizer=sgd data.batch_size=32

Heavy imports (torch, lightning) happen inside :func:`train`, so ``--help`` and ``--cfg job`` are fast.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from lightning_hydra_template.cli import hydra_entry
from lightning_hydra_template.config.errors import ConfigError
from lightning_hydra_template.config.secrets import redact, redact_files
from lightning_hydra_template.config.validation import validate_config
from lightning_hydra_template.distributed.ranks import launched_rank
from lightning_hydra_template.runs.output_log import log_printed_output


@log_printed_output  # train.log keeps the plan, epoch lines, summary and resume hint
def train(cfg: DictConfig, extra_callbacks: list[Any] | None = None) -> dict[str, Any]:
    """Run one training job described by ``cfg``; returns the summary (also written as summary.json).

    ``extra_callbacks`` are added to the configured ones (the Optuna search adds its pruning callback).
    """
    started = time.perf_counter()
    validate_config(cfg)
    run_dir = Path(cfg.paths.output_dir)
    redact_files(run_dir.glob(".hydra/*.yaml"))  # Hydra saved them before this point
    if cfg.extras.get("print_config"):
        print(OmegaConf.to_yaml(redact(OmegaConf.to_container(cfg, resolve=True))))
    speaks = (
        launched_rank() == 0
    )  # what happens before the plan is printed, so the first seconds are not blank
    if speaks:
        print(f"Loading torch and Lightning ... (run directory {run_dir})", flush=True)

    import lightning.pytorch as pl
    from hydra.utils import instantiate

    from lightning_hydra_template.callbacks.curves import LearningCurves
    from lightning_hydra_template.callbacks.embed_config import EmbedConfig
    from lightning_hydra_template.callbacks.epoch_history import EpochHistory
    from lightning_hydra_template.callbacks.exact_resume import ExactResume
    from lightning_hydra_template.callbacks.loader_resume import LoaderResume
    from lightning_hydra_template.callbacks.progress import default_progress
    from lightning_hydra_template.callbacks.run_summary import RunSummary
    from lightning_hydra_template.callbacks.safety import (
        LAST,
        GracefulInterrupt,
        Interrupted,
        checkpoint_dir,
        keep_last_current,
        resume_hint,
    )
    from lightning_hydra_template.callbacks.step_metrics import StepMetrics
    from lightning_hydra_template.data.resumable_loader import resumable_train_loader
    from lightning_hydra_template.loggers.hyperparameters import hyperparameters_for, log_final_metrics
    from lightning_hydra_template.runs.build import (
        close_loggers,
        default_profiler,
        instantiate_group,
        without_logger_only_callbacks,
    )
    from lightning_hydra_template.runs.checkpoint_io import remove_stale_temporaries
    from lightning_hydra_template.runs.environment import (
        check_accelerator,
        configure_warnings,
        route_lightning_logs,
    )
    from lightning_hydra_template.runs.model_from_data import build_model
    from lightning_hydra_template.runs.plan import plan_for
    from lightning_hydra_template.runs.provenance import record_provenance
    from lightning_hydra_template.runs.resume import auto_resume_path, check_resume_checkpoint
    from lightning_hydra_template.runs.summary import describe_summary, write_summary

    route_lightning_logs()
    configure_warnings(cfg.extras.get("ignore_warnings", True))
    check_accelerator(cfg.trainer.accelerator)
    if cfg.seed is not None:
        pl.seed_everything(cfg.seed, workers=True, verbose=False)

    if speaks:
        print(
            f"Preparing the data ({cfg.data.get('_target_', '?').rsplit('.', 1)[-1]}) and the model ...",
            flush=True,
        )
    datamodule = resumable_train_loader(instantiate(cfg.data))  # a plain DataLoader resumes mid-epoch too
    datamodule.setup("fit")
    model = build_model(cfg, datamodule)  # classes, input shape, class names from the data

    summary_callback = RunSummary(cfg.monitor.metric, cfg.monitor.mode)
    # per-epoch values for summary.json and sweep reports; drawn as curves.png unless plots are off
    history = (
        LearningCurves(cfg.monitor.metric, cfg.monitor.mode)
        if cfg.extras.get("plots", True)
        else EpochHistory()
    )
    callbacks = instantiate_group(cfg.get("callbacks"))
    callbacks += keep_last_current(callbacks)  # last.ckpt at the current state after every validation
    interrupt = GracefulInterrupt()
    callbacks += [EmbedConfig(redact(OmegaConf.to_container(cfg, resolve=True))), summary_callback, history]
    callbacks += [LoaderResume(), ExactResume(), interrupt]  # loader first: it must not move the restored RNG
    callbacks += [StepMetrics()]  # step curves every trainer.log_every_n_steps
    callbacks += default_progress(callbacks, cfg.trainer)
    callbacks += list(extra_callbacks or [])
    loggers = instantiate_group(cfg.get("logger"))
    callbacks = without_logger_only_callbacks(callbacks, loggers)
    trainer: pl.Trainer = instantiate(
        cfg.trainer, callbacks=callbacks, logger=loggers or False, **default_profiler(cfg.trainer)
    )

    plan = plan_for(cfg, datamodule, trainer)
    summary_callback.plan = plan
    if trainer.is_global_zero and plan is not None:  # None: a training loader without a length
        print(plan.describe(), flush=True)
    provenance = record_provenance(run_dir) if trainer.is_global_zero else []
    hyperparameters = hyperparameters_for(loggers, cfg, plan, provenance)

    ckpt_path = auto_resume_path(run_dir, cfg.get("ckpt_path"))
    if ckpt_path:  # fitting continues from it, or (train=false) it is the model tested
        check_resume_checkpoint(ckpt_path, model, cfg if cfg.train else None)
    if cfg.train:
        remove_stale_temporaries(run_dir / "checkpoints")  # left by a run killed mid-save
        if ckpt_path and trainer.is_global_zero:
            print(f"Resuming from {ckpt_path}", flush=True)
        try:
            trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
            if interrupt.stop_signal is not None:  # stopped at the end of an epoch, or after the last step
                raise Interrupted(interrupt.stop_signal, interrupt.checkpoint, interrupt.requeued)
        except Interrupted as stop:
            if trainer.is_global_zero:
                stop.checkpoint = (
                    stop.checkpoint or checkpoint_dir(trainer) / LAST
                )  # DDP: the workers saved it
                print(f"{stop}; {resume_hint(run_dir)}", flush=True)
            raise SystemExit(stop.exit_code) from None
    epoch_rows = list(history.rows)  # testing a checkpoint restores the callbacks' state as saved then

    test_metrics: dict[str, float] = {}
    best_path = getattr(trainer.checkpoint_callback, "best_model_path", "")  # a ModelCheckpoint, if any
    if cfg.test:
        # after fitting: the best checkpoint; with train=false: the weights of ckpt_path, if given
        ckpt = (best_path or None) if cfg.train else ckpt_path
        results = trainer.test(model, datamodule=datamodule, ckpt_path=ckpt, verbose=False, weights_only=True)
        test_metrics = {k: float(v) for k, v in (results[0] if results else {}).items()}

    log_final_metrics(loggers, hyperparameters, cfg.monitor.metric, summary_callback.best_value, test_metrics)
    close_loggers(loggers)
    fit_seconds = summary_callback.fit_seconds
    summary = {
        "status": "completed",
        "monitor": cfg.monitor.metric,
        "best_value": summary_callback.best_value,
        "best_epoch": summary_callback.best_epoch,
        "epochs_run": trainer.current_epoch,
        "global_step": trainer.global_step,
        "test": test_metrics,
        "best_checkpoint": best_path or None,
        "run_dir": str(run_dir),
        "wall_seconds": time.perf_counter() - started,
        "fit_seconds": fit_seconds,
        # every rank sees as many samples as rank 0 (equal training shards)
        "samples_per_second": summary_callback.samples_seen * trainer.world_size / fit_seconds
        if fit_seconds
        else 0.0,
        "plan": plan.as_dict() if plan is not None else None,
        "provenance": provenance,  # one record per start of this run directory (the first, then each resume)
        "history": epoch_rows,  # one row per epoch: train/* and val/* values, global_step, seconds
    }
    if trainer.is_global_zero:
        write_summary(summary, run_dir)
        print(describe_summary(summary), flush=True)
    return summary


def objective(summary: dict[str, Any]) -> float | None:
    """The number a sweeper optimises: the best monitored validation value."""
    return summary.get("best_value")


def _task(cfg: DictConfig) -> float | None:
    return objective(train(cfg))


main = hydra_entry("train", _task)

__all__ = ["ConfigError", "main", "train"]

if __name__ == "__main__":
    main()
