"""Exact resume: a run resumed mid-epoch from any checkpoint ends bitwise equal to an uninterrupted one."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

from lightning_hydra_template.train import train

# 1257 training samples / 64 = 20 optimizer steps per epoch; dropout is on, shuffling is on.
EXACT = [
    "seed=7",
    "deterministic=true",
    "trainer.max_epochs=3",
    "data.batch_size=64",
    "test=false",
    "callbacks.early_stopping=null",
    "callbacks.step_checkpoint.every_n_steps=1",
    "callbacks.step_checkpoint.filename='step_{step:03d}.ckpt'",
]


def _final(run_dir: Path) -> dict:
    return torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)


def _train_losses(run_dir: Path) -> dict[int, str]:
    with open(run_dir / "csv" / "metrics.csv", newline="") as handle:
        return {int(r["epoch"]): r["train/loss"] for r in csv.DictReader(handle) if r.get("train/loss")}


def _assert_same_tensors(a, b, where: str) -> None:
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            _assert_same_tensors(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_same_tensors(x, y, f"{where}[{i}]")


@pytest.mark.slow
def test_resume_mid_epoch_is_bitwise_exact(make_cfg):
    # budget: 4 tiny 3-epoch CPU runs, ~15 s on 2 cores
    reference = make_cfg(EXACT)
    train(reference)
    ref_dir = Path(reference.paths.output_dir)
    ref_final = _final(ref_dir)
    ref_losses = _train_losses(ref_dir)
    assert sorted(ref_losses) == [0, 1, 2]

    # mid epoch 1, one step before the end of epoch 2, the first step of epoch 3, mid epoch 3
    for step in (7, 39, 41, 47):
        ckpt = ref_dir / "checkpoints" / f"step_{step:03d}.ckpt"
        resumed = make_cfg([*EXACT, f"ckpt_path={ckpt}", "callbacks.step_checkpoint.every_n_steps=1000"])
        summary = train(resumed)
        assert summary["global_step"] == 60
        run_dir = Path(resumed.paths.output_dir)
        final = _final(run_dir)
        _assert_same_tensors(ref_final["state_dict"], final["state_dict"], f"weights after resume at {step}")
        _assert_same_tensors(
            ref_final["optimizer_states"], final["optimizer_states"], f"optimizer after resume at {step}"
        )
        # the epochs the resumed run finished report the same training loss, to the last digit
        losses = _train_losses(run_dir)
        for epoch, value in losses.items():
            assert value == ref_losses[epoch], (step, epoch)
        assert max(losses) == 2
