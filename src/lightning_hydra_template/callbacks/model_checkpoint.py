"""Best and last checkpoints, with epochs in file names counted from 1 like everywhere else a user reads."""

from __future__ import annotations

from typing import Any

from lightning.pytorch import callbacks


class ModelCheckpoint(callbacks.ModelCheckpoint):
    """Lightning's ``ModelCheckpoint`` whose ``{epoch}`` in file names is the epoch's number counted from 1.

    The console, summary.json (``best_epoch``, ``history``) and the figures count epochs from 1, so the best
    checkpoint of the third epoch is ``epoch_003.ckpt`` and ``summary.json`` says ``"best_epoch": 3``.
    Lightning's own counters keep counting from 0 (``ckpt["epoch"]``, ``trainer.current_epoch``, the
    ``epoch`` column of metrics.csv): see docs/epochs.md.

    The class keeps Lightning's name on purpose: a callback's state is stored in checkpoints under a key
    made of its class name and settings, so checkpoints written with Lightning's class resume with their
    best-checkpoint tracking intact, and the other way round.
    """

    def format_checkpoint_name(
        self,
        metrics: dict[str, Any],
        filename: str | None = None,
        ver: int | None = None,
        prefix: str | None = None,
    ) -> str:
        if "epoch" in metrics:
            metrics = {**metrics, "epoch": metrics["epoch"] + 1}
        return super().format_checkpoint_name(metrics, filename=filename, ver=ver, prefix=prefix)
