"""Step-level training curves, and no device read-back on the steps between logging points."""

from __future__ import annotations

import csv
import traceback
from collections import Counter
from pathlib import Path

import pytest
import torch
from lightning.pytorch import Callback

from lightning_hydra_template.callbacks.step_metrics import LOSS, LR, SAMPLES_PER_SECOND
from tests.conftest import SYNTHETIC_MLP

EVERY = 6  # not a divisor of the 16 steps per epoch: logging points and epoch ends fall on different steps
STEPS_PER_EPOCH = 16  # the synthetic data: 1000 training samples at batch size 64
RUN = [*SYNTHETIC_MLP, "trainer.max_epochs=2", f"trainer.log_every_n_steps={EVERY}", "test=false"]


def _rows(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "csv" / "metrics.csv", newline="") as handle:
        return list(csv.DictReader(handle))


class _LossSpy(Callback):
    """Every batch's loss (read back here, in a test that does not count read-backs)."""

    def __init__(self) -> None:
        self.losses: list[float] = []
        self.shown: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.losses.append(outputs["loss"].item())

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.shown.append(trainer.progress_bar_callback.get_metrics(trainer, pl_module)["loss"])


@pytest.mark.slow
def test_loggers_get_the_mean_loss_lr_and_throughput_every_n_steps(make_cfg):
    from lightning_hydra_template.train import train

    spy = _LossSpy()
    cfg = make_cfg([*RUN, "callbacks.progress_bar.style=rich"])
    train(cfg, extra_callbacks=[spy])
    rows = [r for r in _rows(Path(cfg.paths.output_dir)) if r.get(LOSS)]
    steps = list(range(EVERY, 2 * STEPS_PER_EPOCH + 1, EVERY))
    assert [int(r["step"]) + 1 for r in rows] == steps  # Lightning's axis: optimizer step n at n - 1
    for row, end in zip(rows, steps, strict=True):
        window = spy.losses[end - EVERY : end]  # the steps since the last point, not the last batch
        assert float(row[LOSS]) == pytest.approx(sum(window) / len(window), rel=1e-5)
        assert float(row[LR]) == pytest.approx(cfg.optimizer.lr)
        assert float(row[SAMPLES_PER_SECOND]) > 0
    # the Rich bar shows the running loss: the last logged mean at each epoch end
    last_of_epoch = [max(s for s in steps if s <= e * STEPS_PER_EPOCH) for e in (1, 2)]
    means = {int(r["step"]) + 1: float(r[LOSS]) for r in rows}
    assert spy.shown == pytest.approx([means[s] for s in last_of_epoch], rel=1e-6)


READ_BACKS = ("item", "cpu", "tolist", "numpy", "__bool__", "__float__", "__int__")


class _StepWindows(Callback):
    """Names the part of training under way: ``step <n>`` from the start of the batch that makes optimizer
    step n (from 1) to the start of the next batch, so a step's window holds its batch-end hooks and, for
    the last batch of an epoch, the validation and epoch-end work."""

    def __init__(self) -> None:
        self.window = "before training"

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.window = trainer.global_step + 1

    def on_train_end(self, trainer, pl_module) -> None:
        self.window = "after training"


def _count_read_backs(monkeypatch, windows: _StepWindows) -> tuple[Counter, dict]:
    counts: Counter = Counter()
    where: dict = {}

    def counting(name, original):
        def wrapper(self, *args, **kwargs):
            caller = traceback.extract_stack(limit=2)[0]
            # optimizers keep their step counters as CPU tensors on every device and read them there
            if "/torch/optim/" not in caller.filename:
                counts[windows.window] += 1
                where.setdefault(windows.window, []).append(f"{name} at {caller.filename}:{caller.lineno}")
            return original(self, *args, **kwargs)

        return wrapper

    for name in READ_BACKS:
        monkeypatch.setattr(torch.Tensor, name, counting(name, getattr(torch.Tensor, name)))
    return counts, where


@pytest.mark.slow
def test_steps_between_logging_points_read_nothing_back(make_cfg, monkeypatch):
    """The default callbacks (NaN guard, step checkpoints, early stopping, LR monitor, progress, plots)
    and the step-level logging add no ``.item()``/``.cpu()``/``bool(tensor)``/... on a plain step."""
    from lightning_hydra_template.train import train

    cfg = make_cfg(RUN)
    windows = _StepWindows()
    counts, where = _count_read_backs(monkeypatch, windows)
    train(cfg, extra_callbacks=[windows])
    monkeypatch.undo()

    total_steps = 2 * STEPS_PER_EPOCH
    logging_steps = set(range(EVERY, total_steps + 1, EVERY))
    epoch_ends = {STEPS_PER_EPOCH, total_steps}
    plain = [s for s in range(1, total_steps + 1) if s not in logging_steps | epoch_ends]
    assert {s: where[s] for s in plain if counts[s]} == {}
    # a logging point reads the loss sums back (step logging and the NaN guard), nothing per batch
    for step in logging_steps - epoch_ends:
        assert 1 <= counts[step] <= 3, (step, where.get(step))
