"""One row per training epoch: logged train/val values, iterations so far and fit seconds elapsed.

The rows go into summary.json, so sweep reports can plot loss per epoch and per wall-clock second
without reading any logger's files.
"""

from __future__ import annotations

import math
import time
from typing import Any

from lightning.pytorch import Callback, LightningModule, Trainer


def _scalars(metrics: dict[str, Any], prefix: str) -> dict[str, float | None]:
    values = {}
    for name, value in metrics.items():
        if name.startswith(prefix) and getattr(value, "numel", lambda: 1)() == 1:
            number = float(value)
            values[name] = number if math.isfinite(number) else None
    return values


def _learning_rate(trainer: Trainer) -> dict[str, float]:
    """``train/lr``: the first optimizer's first parameter group's rate as the epoch starts (a Python float)."""
    for optimizer in trainer.optimizers[:1]:
        for group in optimizer.param_groups[:1]:
            if group.get("lr") is not None:
                return {"train/lr": float(group["lr"])}
    return {}


class EpochHistory(Callback):
    """Collects ``rows`` of ``{epoch, global_step, seconds, train/..., val/...}``; ``train/lr`` is the
    learning rate the epoch started with.

    Lightning validates inside the training epoch and the module logs ``train/*`` in its own
    ``on_train_epoch_end`` (after the callbacks' hook), so a row is completed when the next epoch
    starts or training ends. A checkpoint keeps the open row apart; a run resumed from it completes
    that row (mid-epoch: with the rest of the epoch; at the epoch's end: as it was saved).
    """

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self._pending: dict[str, Any] | None = None
        self._start: float | None = None
        self._offset = 0.0  # seconds of earlier fits when resumed

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._start = time.perf_counter()
        latest = self._pending or (self.rows[-1] if self.rows else {})
        self._offset = latest.get("seconds", 0.0)

    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self._pending is not None and self._pending["epoch"] == trainer.current_epoch + 1:
            return  # resumed from a checkpoint taken as this epoch started: its row is open already
        self._finish(trainer)
        self._pending = {"epoch": trainer.current_epoch + 1, **_learning_rate(trainer)}

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.sanity_checking or self._pending is None:
            return
        self._pending.update(_scalars(trainer.callback_metrics, "val/"))

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._finish(trainer)

    def _finish(self, trainer: Trainer) -> None:
        if self._pending is None or self._start is None:
            return
        row = self._pending
        self._pending = None
        row.update(_scalars(trainer.callback_metrics, "train/"))
        row["global_step"] = trainer.global_step
        row["seconds"] = self._elapsed()
        self.rows.append(row)

    def _elapsed(self) -> float:
        return round(self._offset + time.perf_counter() - (self._start or time.perf_counter()), 4)

    def series(self) -> dict[str, list[tuple[int, float]]]:
        """``{metric: [(epoch, value), ...]}`` for every per-epoch metric (``*_best`` trackers left out)."""
        out: dict[str, list[tuple[int, float]]] = {}
        for row in self.rows:
            for key, value in row.items():
                if "/" in key and value is not None and not key.endswith("_best"):
                    out.setdefault(key, []).append((int(row["epoch"]), float(value)))
        return out

    def state_dict(self) -> dict[str, Any]:
        pending = dict(self._pending, seconds=self._elapsed()) if self._pending is not None else None
        return {"rows": list(self.rows), "pending": pending}

    def on_save_checkpoint(
        self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        pending = checkpoint.get("callbacks", {}).get(self.state_key, {}).get("pending")
        progress = trainer.fit_loop.epoch_progress.current
        # epoch_progress.current is a _ProcessedTracker; Lightning annotates its base class
        if pending is not None and progress.processed > progress.completed:  # type: ignore[attr-defined]
            # saved at the epoch's end (ModelCheckpoint, LastCheckpoint: after the module logged train/*);
            # a run resumed from here starts the next epoch, so the row keeps this epoch's values now
            pending.update(_scalars(trainer.callback_metrics, "train/"))
            pending["global_step"] = trainer.global_step

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.rows = list(state_dict.get("rows", []))
        self._pending = state_dict.get("pending")
