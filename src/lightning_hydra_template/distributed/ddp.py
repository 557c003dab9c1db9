"""DDP by starting worker processes from inside the run (fork or spawn), with the run's state carried back.

Why not Lightning's default ``ddp`` launcher here: it re-executes the command line for every extra
rank, which under a Hydra multirun starts a new sweep in each child (extra directories, or a hang
while ranks wait for each other in different jobs). Spawned/forked workers instead run inside the
job that started them, so a job keeps exactly one run directory.

Lightning's spawn launcher sends only ``callback_metrics`` back to the main process; this one also
carries the fit loop's progress (epochs, optimizer steps) and the plain attributes of the callbacks
(best value, per-epoch history, timings), so the run summary written afterwards is complete.
While the workers train, Ctrl-C / SIGTERM in the launching process is passed on to them as a stop
request (distributed/interrupt.py): they save ``last.ckpt`` and exit with 128 + the signal, and
the launching process raises :class:`Interrupted` in turn.
Under ``torchrun``/SLURM the processes already exist and Lightning's own ``ddp`` is used instead
(``trainer=ddp_cpu trainer.strategy=ddp``, see configs/trainer/torchrun.yaml).
"""

from __future__ import annotations

import io
import multiprocessing
import sys
import warnings
from typing import Any, Literal

import lightning.pytorch as pl
import torch
from lightning.pytorch.strategies import DDPStrategy
from lightning.pytorch.strategies.launchers.multiprocessing import _MultiProcessingLauncher
from torch.multiprocessing import ProcessExitedException

from lightning_hydra_template.config.errors import ConfigError
from lightning_hydra_template.distributed.interrupt import (
    Interrupted,
    attach_stop_request,
    recording_stop_signals,
)

# The module's epoch metrics are torchmetrics objects, synchronised across ranks when computed, and the
# training loss is reduced explicitly; Lightning cannot see that and warns for every metric.
warnings.filterwarnings("ignore", message=r".*sync_dist=True.*")

_PLAIN = (int, float, str, bool, list, tuple, dict, type(None))


def _plain_attributes(callback: pl.Callback) -> dict[str, Any]:
    return {k: v for k, v in vars(callback).items() if not k.startswith("__") and isinstance(v, _PLAIN)}


class _CarryStateLauncher(_MultiProcessingLauncher):
    def launch(self, function: Any, *args: Any, trainer: pl.Trainer | None = None, **kwargs: Any) -> Any:
        if trainer is None or trainer.state.fn != "fit":
            return super().launch(function, *args, trainer=trainer, **kwargs)
        self._stop_request = multiprocessing.get_context(self._start_method).RawValue("i", 0)
        with recording_stop_signals(self._stop_request):
            try:
                result = super().launch(function, *args, trainer=trainer, **kwargs)
            except ProcessExitedException as exited:
                signum = self._stop_request.value or exited.exit_code - 128
                if exited.exit_code > 128 and signum > 0:  # a worker stopped on a signal, checkpoint saved
                    raise Interrupted(signum) from None
                raise
        if self._stop_request.value:  # the signal came after the workers' last step
            raise Interrupted(self._stop_request.value)
        return result

    def _wrapping_function(self, process_idx: int, *args: Any, **kwargs: Any) -> None:
        attach_stop_request(getattr(self, "_stop_request", None))
        try:
            super()._wrapping_function(process_idx, *args, **kwargs)
        except Interrupted as stop:
            sys.exit(stop.exit_code)  # the launching process turns the exit status back into Interrupted

    def get_extra_results(self, trainer: pl.Trainer) -> dict[str, Any]:
        extra = super().get_extra_results(trainer)
        state = {
            "fit_loop": trainer.fit_loop.state_dict(),
            "callbacks": [_plain_attributes(cb) for cb in trainer.callbacks],  # type: ignore[attr-defined]  # set on the Trainer by Lightning's connectors, not declared
        }
        buffer = io.BytesIO()
        torch.save(state, buffer)
        extra["lht_state_bytes"] = buffer.getvalue()
        return extra

    def update_main_process_results(self, trainer: pl.Trainer, extra: dict[str, Any]) -> None:
        super().update_main_process_results(trainer, extra)
        if "lht_state_bytes" not in extra:
            return
        # our own bytes from our own worker process, not a file from elsewhere
        state = torch.load(io.BytesIO(extra["lht_state_bytes"]), weights_only=False)
        if state["fit_loop"] and trainer.state.fn == "fit":
            trainer.fit_loop.load_state_dict(state["fit_loop"])
        callbacks = trainer.callbacks  # type: ignore[attr-defined]  # set on the Trainer by Lightning's connectors, not declared
        for callback, attributes in zip(callbacks, state["callbacks"], strict=False):
            for name, value in attributes.items():
                try:
                    setattr(callback, name, value)
                except AttributeError:  # a read-only property
                    continue


START_METHODS = ("auto", "fork", "spawn", "forkserver")


def resolve_start_method(start_method: str) -> Literal["fork", "spawn", "forkserver"]:
    """``auto``: fork on Linux (no re-import of torch and Lightning per worker: seconds instead of
    a minute on a busy laptop), spawn elsewhere (macOS and Windows cannot fork torch safely)."""
    if start_method not in START_METHODS:
        raise ConfigError(
            "trainer.strategy.start_method", f"got {start_method!r}; allowed: {', '.join(START_METHODS)}"
        )
    if start_method == "auto":
        return "fork" if sys.platform.startswith("linux") else "spawn"
    return start_method  # type: ignore[return-value]  # one of START_METHODS, not auto


class SpawnDDPStrategy(DDPStrategy):
    """``DDPStrategy`` whose workers are forked or spawned by the run and report their state back."""

    def __init__(self, start_method: str = "auto", **kwargs: Any) -> None:
        self.worker_start_method = resolve_start_method(start_method)
        super().__init__(start_method=self.worker_start_method, **kwargs)

    def _configure_launcher(self) -> None:  # the strategy's only launcher hook (docs/lightning_internals.md)
        self._launcher = _CarryStateLauncher(self, start_method=self.worker_start_method)
