"""Callbacks that keep work from being lost: step checkpoints, stop on a non-finite loss,
and a checkpoint on Ctrl-C / SIGTERM / the SLURM pre-timeout signal."""

from __future__ import annotations

import contextlib
import signal
import sys
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import Callback, LightningModule, Trainer

from lightning_hydra_template.config.errors import UserError
from lightning_hydra_template.distributed.slurm import scontrol_requeue, slurm_requeue_signal

LAST = "last.ckpt"


def checkpoint_dir(trainer: Trainer) -> Path:
    """Where this run's checkpoints go: the ModelCheckpoint's folder, else <run dir>/checkpoints."""
    callback = trainer.checkpoint_callback
    dirpath = getattr(callback, "dirpath", None)
    return Path(dirpath) if dirpath else Path(trainer.default_root_dir) / "checkpoints"


class StepCheckpoint(Callback):
    """Writes ``last.ckpt`` every ``every_n_steps`` optimizer steps, so a crash (even SIGKILL)
    loses at most that many steps. ``filename`` may use ``{step}`` and ``{epoch}`` (the epoch in progress,
    counted from 1 like the best checkpoint's name)."""

    def __init__(self, every_n_steps: int = 100, filename: str = LAST) -> None:
        if every_n_steps < 1:
            raise ValueError(f"every_n_steps must be >= 1, got {every_n_steps}")
        self.every_n_steps = every_n_steps
        self.filename = filename
        self._last_saved_step = -1

    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        step = trainer.global_step
        if step == 0 or step % self.every_n_steps or step == self._last_saved_step:
            return  # also skips accumulation batches, which leave global_step unchanged
        if _at_epoch_end(trainer):
            return  # the epoch-end checkpoint follows validation; one taken before it would skip that
        self._last_saved_step = step
        name = self.filename.format(step=step, epoch=trainer.current_epoch + 1)
        trainer.save_checkpoint(checkpoint_dir(trainer) / name, weights_only=False)


def _at_epoch_end(trainer: Trainer) -> bool:
    """The last training batch of the epoch, before its validation and epoch-end hooks.

    Lightning resumes a checkpoint taken here at the next epoch, so this epoch's validation and
    end-of-epoch logging would never happen in the resumed run.
    """
    return bool(trainer.fit_loop.epoch_loop.batch_progress.is_last_batch)


class NonFiniteLoss(UserError):
    """The training loss became NaN or infinite."""


class FiniteLossGuard(Callback):
    """Stops training before a NaN/inf loss reaches the weights; no checkpoint is written after it,
    so the last good one is kept."""

    def on_before_backward(self, trainer: Trainer, pl_module: LightningModule, loss: torch.Tensor) -> None:
        if bool(torch.isfinite(loss.detach()).all()):
            return
        value = float(loss.detach().float().mean())
        where = f"epoch {trainer.current_epoch + 1}, optimizer step {trainer.global_step}"
        saved = checkpoint_dir(trainer) / LAST
        keep = f"the last good checkpoint is {saved}" if saved.is_file() else "no checkpoint was written yet"
        raise NonFiniteLoss(
            f"train/loss: became {value} at {where}; training stopped, {keep}; "
            "try a lower optimizer.lr or trainer.gradient_clip_val=1.0"
        )


class Interrupted(Exception):
    """Training stopped on a signal after saving a checkpoint; ``exit_code`` is 128 + the signal."""

    def __init__(self, signum: int, checkpoint: Path | None, requeued: bool = False) -> None:
        self.signum = signum
        self.checkpoint = checkpoint
        self.requeued = requeued
        name = signal.Signals(signum).name
        super().__init__(f"stopped by {name}" + (f"; checkpoint saved to {checkpoint}" if checkpoint else ""))

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


class GracefulInterrupt(Callback):
    """Ctrl-C, SIGTERM (and SIGUSR1 under SLURM) finish the current step, save ``last.ckpt``
    through the atomic checkpoint IO and stop with exit code 128 + signal (130, 143, 138).

    A second Ctrl-C aborts at once. Under SLURM the job is requeued with ``scontrol requeue``; the
    requeued job finds the checkpoint because its run directory is derived from the job id.
    """

    def __init__(self, requeue: bool = True) -> None:
        self.requeue = requeue
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signum is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # second Ctrl-C: stop now, without a checkpoint
        self.signum = signum
        print(
            f"\n{signal.Signals(signum).name} received: saving a checkpoint after this step "
            "(Ctrl-C again to abort without one)",
            file=sys.stderr,
            flush=True,
        )

    def _signals(self) -> list[int]:
        requeue = slurm_requeue_signal()
        return [signal.SIGINT, signal.SIGTERM] + ([requeue] if requeue else [])

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        # Installed after Lightning's own handlers (set up when fit starts), which it replaces; the
        # Trainer puts the originals back at teardown.
        self.signum = None
        for signum in self._signals():
            with contextlib.suppress(ValueError):  # not the main thread: leave signals alone
                self._previous[signum] = signal.signal(signum, self._handle)

    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if _at_epoch_end(trainer):
            return  # save after this epoch's validation, at the next step (see StepCheckpoint)
        signum = self._agreed_signal(trainer)
        if signum is None:
            return
        path = checkpoint_dir(trainer) / LAST
        trainer.save_checkpoint(path, weights_only=False)
        requeued = False
        if signum == slurm_requeue_signal() and self.requeue and trainer.is_global_zero:
            requeued = scontrol_requeue()
        raise Interrupted(signum, path, requeued)

    def _agreed_signal(self, trainer: Trainer) -> int | None:
        """The signal, agreed on by all processes (one may get it a step before the others)."""
        if trainer.world_size == 1:
            return self.signum
        flag = torch.tensor([self.signum or 0], device=trainer.strategy.root_device)
        flag = trainer.strategy.reduce(flag, reduce_op="max")
        return int(flag.item()) or None

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._restore()

    def on_exception(self, trainer: Trainer, pl_module: LightningModule, exception: BaseException) -> None:
        self._restore()

    def _restore(self) -> None:
        for signum, handler in self._previous.items():
            with contextlib.suppress(ValueError, TypeError):
                signal.signal(signum, handler)
        self._previous = {}


def resume_hint(run_dir: str | Path) -> str:
    return f"resume with: make train resume={run_dir}"
