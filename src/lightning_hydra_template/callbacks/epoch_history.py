"""One row per training epoch: logged train/val values, iterations so far and fit seconds elapsed.

The rows go into summary.json, so sweep reports can plot loss per epoch and per wall-clock second
without reading any logger's files.
"""

from __future__ import annotations

import math
import time
from typing import Any

from lightning.pytorch import Callback, LightningModule, Trainer


def _scalars(metrics: dict[str, Any], prefix: str) -> dict[str, float]:
    values = {}
    for name, value in metrics.items():
        if name.startswith(prefix) and getattr(value, "numel", lambda: 1)() == 1:
            number = float(value)
            values[name] = number if math.isfinite(number) else None
    return values


class EpochHistory(Callback):
    """Collects ``rows`` of ``{epoch, global_step, seconds, train/..., val/...}``.

    Lightning validates inside the training epoch and the module logs ``train/*`` in its own
    ``on_train_epoch_end`` (after the callbacks' hook), so a row is completed when the next epoch
    starts or training ends.
    """

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self._pending: dict[str, Any] | None = None
        self._start: float | None = None
        self._offset = 0.0  # seconds of earlier fits when resumed

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._start = time.perf_counter()
        self._offset = self.rows[-1]["seconds"] if self.rows else 0.0

    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._finish(trainer)
        self._pending = {"epoch": trainer.current_epoch + 1}

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
        row["seconds"] = round(self._offset + time.perf_counter() - self._start, 4)
        self.rows.append(row)

    def series(self) -> dict[str, list[tuple[int, float]]]:
        """``{metric: [(epoch, value), ...]}`` for every per-epoch metric (``*_best`` trackers left out)."""
        out: dict[str, list[tuple[int, float]]] = {}
        for row in self.rows:
            for key, value in row.items():
                if "/" in key and value is not None and not key.endswith("_best"):
                    out.setdefault(key, []).append((int(row["epoch"]), float(value)))
        return out

    def state_dict(self) -> dict[str, Any]:
        # Checkpoints are saved after validation, before the epoch's row is complete: keep it as it is.
        pending = [dict(self._pending)] if self._pending and self._start is not None else []
        for row in pending:
            row["seconds"] = round(self._offset + time.perf_counter() - self._start, 4)
        return {"rows": self.rows + pending}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.rows = list(state_dict.get("rows", []))
