"""Callbacks that keep work from being lost: ``last.ckpt`` kept at the current state, step checkpoints,
stop on a non-finite loss, and a checkpoint on Ctrl-C / SIGTERM / the SLURM pre-timeout signal."""

from __future__ import annotations

import contextlib
import math
import signal
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.callbacks import Checkpoint, ModelCheckpoint

from lightning_hydra_template.config.errors import UserError
from lightning_hydra_template.distributed.interrupt import Interrupted, announce, requested_stop, stop_signals
from lightning_hydra_template.distributed.slurm import scontrol_requeue, slurm_requeue_signal

LAST = "last.ckpt"

# The global step each checkpoint file was last written at, per Trainer: the savers below write a file
# at the end of fitting only if no other one already did at that step.
_WRITTEN: WeakKeyDictionary[Trainer, dict[Path, int]] = WeakKeyDictionary()


def checkpoint_dir(trainer: Trainer) -> Path:
    """Where this run's checkpoints go: the ModelCheckpoint's folder, else <run dir>/checkpoints."""
    callback = trainer.checkpoint_callback
    dirpath = getattr(callback, "dirpath", None)
    return Path(dirpath) if dirpath else Path(trainer.default_root_dir) / "checkpoints"


def save_checkpoint(trainer: Trainer, path: Path) -> None:
    """``trainer.save_checkpoint`` (atomic through the run's checkpoint IO; every process calls it)."""
    trainer.save_checkpoint(path, weights_only=False)
    _WRITTEN.setdefault(trainer, {})[Path(path)] = trainer.global_step


def written_at_this_step(trainer: Trainer, path: Path) -> bool:
    return _WRITTEN.get(trainer, {}).get(Path(path)) == trainer.global_step


def _saving_allowed(trainer: Trainer) -> bool:
    """As Lightning's ModelCheckpoint: only while fitting, never in fast_dev_run or the sanity check."""
    fast_dev_run = trainer.fast_dev_run  # type: ignore[attr-defined]  # set on the Trainer by Lightning's connectors, not declared
    return trainer.state.fn == "fit" and not fast_dev_run and not trainer.sanity_checking


class LastCheckpoint(Checkpoint):
    """Keeps ``last.ckpt`` at the current state (global step, epoch, weights) after every validation,
    at the end of every epoch and at the end of fitting, whether or not the monitored metric improved.

    It takes the job over from ``ModelCheckpoint(save_last=True)`` (see :func:`keep_last_current`),
    which in lightning 2.6 rewrites ``last.ckpt`` only when a top-k checkpoint is saved in the same
    step. Being a :class:`Checkpoint`, Lightning calls it after the ModelCheckpoint (the state saved
    includes the newest best checkpoint) and, at an epoch's end, after the module's own epoch-end hook
    (the epoch's training metrics are logged and its running sums reset).
    """

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not _at_epoch_end(trainer):  # a validation inside the epoch; the epoch-end one is saved below
            self._save(trainer)

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._save(trainer)

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not written_at_this_step(trainer, checkpoint_dir(trainer) / LAST):
            self._save(trainer)

    def _save(self, trainer: Trainer) -> None:
        if _saving_allowed(trainer) and trainer.global_step > 0:
            save_checkpoint(trainer, checkpoint_dir(trainer) / LAST)


def keep_last_current(callbacks: list[Callback]) -> list[Callback]:
    """``[LastCheckpoint()]`` taking over ``last.ckpt`` from every ``ModelCheckpoint(save_last=True)``
    in ``callbacks``, or ``[]`` when none writes it."""
    owners = [c for c in callbacks if isinstance(c, ModelCheckpoint) and c.save_last is True]
    for callback in owners:
        callback.save_last = False
    return [LastCheckpoint()] if owners else []


class StepCheckpoint(Callback):
    """Writes ``last.ckpt`` every ``every_n_steps`` optimizer steps, so a crash (even SIGKILL)
    loses at most that many steps, and once more at the end of fitting if the final step was not
    saved yet. ``filename`` may use ``{step}`` and ``{epoch}`` (the epoch in progress, counted from 1 like
    the best checkpoint's name)."""

    def __init__(self, every_n_steps: int = 100, filename: str = LAST) -> None:
        if every_n_steps < 1:
            raise ValueError(f"every_n_steps must be >= 1, got {every_n_steps}")
        self.every_n_steps = every_n_steps
        self.filename = filename
        self._last_saved_step = -1
        self._epoch = (
            1  # the epoch (from 1) of the latest training batch; after fitting, current_epoch has moved on
        )

    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        self._epoch = trainer.current_epoch + 1
        step = trainer.global_step
        if step == 0 or step % self.every_n_steps or step == self._last_saved_step:
            return  # also skips accumulation batches, which leave global_step unchanged
        if _at_epoch_end(trainer):
            return  # the epoch-end checkpoint follows validation; one taken before it would skip that
        self._save(trainer)

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.global_step and not written_at_this_step(trainer, self._path(trainer)):
            self._save(trainer)

    def _path(self, trainer: Trainer) -> Path:
        return checkpoint_dir(trainer) / self.filename.format(step=trainer.global_step, epoch=self._epoch)

    def _save(self, trainer: Trainer) -> None:
        if _saving_allowed(trainer):
            self._last_saved_step = trainer.global_step
            save_checkpoint(trainer, self._path(trainer))


def _at_epoch_end(trainer: Trainer) -> bool:
    """The last training batch of the epoch, up to the end of its validation.

    Lightning resumes a checkpoint taken here at the next epoch, so this epoch's validation and
    end-of-epoch logging would never happen in the resumed run.
    """
    return bool(trainer.fit_loop.epoch_loop.batch_progress.is_last_batch)


class NonFiniteLoss(UserError):
    """The training loss became NaN or infinite."""


class FiniteLossGuard(Callback):
    """Stops training once the loss became NaN or infinite; no checkpoint is written after it, so the
    last good one is kept.

    A step adds its loss to a sum kept on the device (non-finite once any loss was) and reads nothing
    back; the sum is read every ``trainer.log_every_n_steps`` optimizer steps, at the end of each epoch
    and before any checkpoint is written (each ``save_checkpoint`` calls :meth:`on_save_checkpoint`,
    which raises before the file is written). The weights may take up to that many steps of NaN updates
    before training stops; none of them reaches a checkpoint. Under DDP the processes agree on it.
    """

    def __init__(self) -> None:
        self._sum: torch.Tensor | None = None
        self._checked_step = 0  # global step of the last read-back

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._sum = None
        self._checked_step = trainer.global_step

    def on_before_backward(self, trainer: Trainer, pl_module: LightningModule, loss: torch.Tensor) -> None:
        loss = loss.detach()
        if loss.ndim:
            loss = loss.sum()
        if self._sum is None or self._sum.device != loss.device:
            dtype = torch.float32 if loss.device.type == "mps" else torch.float64  # no float64 on MPS
            self._sum = torch.zeros((), dtype=dtype, device=loss.device)
        self._sum.add_(loss)  # device-side; float64 keeps finite losses from adding up to inf

    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        step = trainer.global_step
        if step > self._checked_step and step % trainer.log_every_n_steps == 0:  # type: ignore[attr-defined]  # set by Lightning's logger connector
            self._check(trainer)

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._check(trainer)

    def on_save_checkpoint(
        self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        if trainer.state.fn == "fit":
            self._check(trainer)

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._check(trainer)

    def _check(self, trainer: Trainer) -> None:
        """One read-back: raise :class:`NonFiniteLoss` if a loss since the last check was not finite."""
        since, self._checked_step = self._checked_step, trainer.global_step
        if self._sum is None:
            return
        value = self._sum.item()
        bad = not math.isfinite(value)
        if trainer.world_size > 1:  # every process checks at the same step: a collective is safe here
            flag = torch.tensor([float(bad)], device=trainer.strategy.root_device)
            bad = bool(trainer.strategy.reduce(flag, reduce_op="max").item())
        if not bad:
            self._sum.zero_()
            return
        steps = (
            f"optimizer step {since + 1}"
            if trainer.global_step <= since + 1
            else (f"optimizer steps {since + 1}-{trainer.global_step}")
        )
        where = f"epoch {trainer.current_epoch + 1}, {steps}"
        shown = value if not math.isfinite(value) else "nan"  # another process's loss
        saved = checkpoint_dir(trainer) / LAST
        keep = f"the last good checkpoint is {saved}" if saved.is_file() else "no checkpoint was written yet"
        raise NonFiniteLoss(
            f"train/loss: became {shown} at {where}; training stopped, {keep}; "
            "try a lower optimizer.lr or trainer.gradient_clip_val=1.0"
        )


class GracefulInterrupt(Callback):
    """Ctrl-C, SIGTERM (and SIGUSR1 under SLURM) finish the current step, save ``last.ckpt``
    through the atomic checkpoint IO and stop with exit code 128 + signal (130, 143, 138).

    Mid-epoch it saves and raises :class:`Interrupted` after the step (under DDP: after the next step
    the processes agree at, see :meth:`_agreement_due`). On the last step of an epoch it stops
    the way early stopping does: the epoch's validation and end-of-epoch hooks run, fitting ends and
    ``last.ckpt`` is saved then (so an epoch of one step is interrupted too); the caller raises
    :class:`Interrupted` when ``stop_signal`` is set after fitting. A second Ctrl-C aborts at once.
    Under SLURM the job is requeued with ``scontrol requeue``; the requeued job finds the checkpoint
    because its run directory is derived from the job id.
    """

    def __init__(self, requeue: bool = True) -> None:
        self.requeue = requeue
        self.signum: int | None = None  # received by this process
        self.stop_signal: int | None = None  # the signal training stopped on, agreed by every process
        self.checkpoint: str | None = None
        self.requeued = False
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signum is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # second Ctrl-C: stop now, without a checkpoint
        self.signum = signum
        announce(signum)

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        # Installed after Lightning's own handlers (set up when fit starts), which it replaces; the
        # Trainer puts the originals back at teardown.
        self.signum = self.stop_signal = self.checkpoint = None
        self.requeued = False
        for signum in stop_signals():
            with contextlib.suppress(ValueError):  # not the main thread: leave signals alone
                self._previous[signum] = signal.signal(signum, self._handle)

    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if self.stop_signal is not None:
            return
        if trainer.world_size > 1 and not self._agreement_due(trainer, batch_idx):
            return
        signum = self._agreed_signal(trainer)
        if signum is None:
            return
        self.stop_signal = signum
        if _at_epoch_end(trainer):
            # A checkpoint taken here would skip this epoch's validation on resume (see StepCheckpoint):
            # finish the epoch, then stop; min_epochs / min_steps would otherwise keep training.
            trainer.fit_loop.min_epochs = 0
            trainer.fit_loop.epoch_loop.min_steps = 0
            trainer.should_stop = True
            return
        self._save(trainer, signum)
        raise Interrupted(signum, self.checkpoint, self.requeued)

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        signum = self.stop_signal or self._agreed_signal(trainer)  # also a signal after the last step
        if signum is not None:
            self.stop_signal = signum
            self._save(trainer, signum)
        self._restore()

    def _save(self, trainer: Trainer, signum: int) -> None:
        path = checkpoint_dir(trainer) / LAST
        if not written_at_this_step(trainer, path):
            save_checkpoint(trainer, path)
        self.checkpoint = str(path)
        if signum == slurm_requeue_signal() and self.requeue and trainer.is_global_zero:
            self.requeued = scontrol_requeue()

    @staticmethod
    def _agreement_due(trainer: Trainer, batch_idx: int) -> bool:
        """Under DDP the processes agree every ``trainer.log_every_n_steps`` batches (with the step
        logging's read-back) and at the last batch of an epoch, not after every step: agreeing is a
        collective plus a read-back, a device synchronisation."""
        return (batch_idx + 1) % trainer.log_every_n_steps == 0 or _at_epoch_end(trainer)  # type: ignore[attr-defined]  # set by Lightning's logger connector

    def _agreed_signal(self, trainer: Trainer) -> int | None:
        """The signal, agreed on by all processes (one may get it a step before the others); a DDP
        worker also counts the signal its launching process received."""
        local = self.signum or requested_stop()
        if trainer.world_size == 1:
            return local
        flag = torch.tensor([local or 0], device=trainer.strategy.root_device)
        flag = trainer.strategy.reduce(flag, reduce_op="max")
        return int(flag.item()) or None

    def on_exception(self, trainer: Trainer, pl_module: LightningModule, exception: BaseException) -> None:
        self._restore()

    def _restore(self) -> None:
        for signum, handler in self._previous.items():
            with contextlib.suppress(ValueError, TypeError):
                signal.signal(signum, handler)
        self._previous = {}


def resume_hint(run_dir: str | Path) -> str:
    return f"resume with: make train resume={run_dir}"
