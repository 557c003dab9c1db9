"""Exact resume: a run resumed mid-epoch from any checkpoint ends bitwise equal to an uninterrupted one."""

from __future__ import annotations

import csv
import json
import re
import sys
from pathlib import Path

import pytest
import torch
from hydra.core.global_hydra import GlobalHydra

from lightning_hydra_template.config.errors import UserError
from lightning_hydra_template.train import main as train_main
from lightning_hydra_template.train import train

# The project's reference task (the digits: 1257 training samples / 64 = 20 optimizer steps per epoch);
# dropout is on, shuffling is on.
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
    ref_summary = train(reference)
    ref_history, per_epoch = ref_summary["history"], ref_summary["plan"]["optimizer_steps_per_epoch"]
    ref_dir = Path(reference.paths.output_dir)
    ref_final = _final(ref_dir)
    ref_losses = _train_losses(ref_dir)
    assert sorted(ref_losses) == [0, 1, 2]

    # mid epoch 1, one step before the end of epoch 2, the first step of epoch 3, mid epoch 3
    for step in (per_epoch // 2, 2 * per_epoch - 1, 2 * per_epoch + 1, 2 * per_epoch + per_epoch // 2):
        ckpt = ref_dir / "checkpoints" / f"step_{step:03d}.ckpt"
        resumed = make_cfg([*EXACT, f"ckpt_path={ckpt}", "callbacks.step_checkpoint.every_n_steps=1000"])
        summary = train(resumed)
        assert summary["global_step"] == 3 * per_epoch
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
        # the epoch the checkpoint interrupted keeps its row, with the same values (summary.json, curves.png)
        assert _rows(summary["history"]) == _rows(ref_history), f"history after resume at {step}"


def _rows(history: list[dict]) -> list[dict]:
    keys = ("epoch", "global_step", "train/loss", "train/acc", "val/loss", "val/acc")
    return [{k: row.get(k) for k in keys} for row in history]


def _run_cli(argv: list[str], monkeypatch, capfd, log_dir: Path) -> tuple[int, str, str]:
    monkeypatch.setenv("LHT_LOG_DIR", str(log_dir))
    monkeypatch.setattr(sys, "argv", ["train", *argv])
    GlobalHydra.instance().clear()
    code = 0
    try:
        train_main()
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    finally:
        GlobalHydra.instance().clear()
    out, err = capfd.readouterr()
    return code, out, err


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}


# 5 optimizer steps per epoch; val/loss falls, so with mode=max the best checkpoint stays epoch 1's and
# the step checkpoint (every 7 steps) is the newest one before the end: last.ckpt must still be the end.
FINISHED = [
    "data.batch_size=256",
    "trainer.max_epochs=3",
    "trainer.accelerator=cpu",
    "test=false",
    "callbacks.early_stopping=null",
    "monitor.metric=val/loss",
    "monitor.mode=max",
    "callbacks.step_checkpoint.every_n_steps=7",
    "~callbacks.model_summary",
    "callbacks.progress_bar.style=lines",
]


# example:digits
@pytest.mark.slow
def test_resuming_a_finished_run_trains_on_from_its_end(tmp_path, monkeypatch, capfd):
    # budget: a 3-epoch and a 2-epoch tiny MLP run in-process, ~15 s
    logs = tmp_path / "logs"
    code, out, err = _run_cli(
        [*FINISHED, "scheduler=step", "scheduler.step_size=1"], monkeypatch, capfd, logs
    )
    assert code == 0, err
    (run_dir,) = list((logs / "train" / "runs").iterdir())
    last = run_dir / "checkpoints" / "last.ckpt"
    end_lr = torch.load(last, map_location="cpu", weights_only=True)["optimizer_states"][0]["param_groups"][
        0
    ]["lr"]

    code, out, err = _run_cli([f"resume={run_dir}", "trainer.max_epochs=5"], monkeypatch, capfd, logs)
    assert code == 0, err
    assert re.findall(r"^epoch (\d+)/5 ", out, flags=re.M) == ["4", "5"]  # not one epoch again
    resumed = torch.load(last, map_location="cpu", weights_only=True)
    assert resumed["global_step"] == 25
    assert resumed["optimizer_states"][0]["param_groups"][0]["lr"] < end_lr  # the step schedule went on
    summary = json.loads((run_dir / "summary.json").read_text())
    assert [row["epoch"] for row in summary["history"]] == [1, 2, 3, 4, 5]


# /example:digits


@pytest.mark.slow
def test_resuming_longer_than_an_epoch_based_schedule_is_refused(tmp_path, monkeypatch, capfd, make_cfg):
    # budget: one 3-epoch tiny MLP run in-process and three refusals, ~15 s
    logs = tmp_path / "logs"
    code, out, err = _run_cli([*FINISHED, "scheduler=cosine"], monkeypatch, capfd, logs)
    assert code == 0, err
    (run_dir,) = list((logs / "train" / "runs").iterdir())
    before = _snapshot(tmp_path)

    # resume=: refused before Hydra rewrites anything in the run directory
    code, out, err = _run_cli([f"resume={run_dir}", "trainer.max_epochs=6"], monkeypatch, capfd, logs)
    assert code == 2, out + err
    new_run = [a for a in FINISHED if a != "trainer.max_epochs=3"] + [
        "scheduler=cosine",
        "trainer.max_epochs=6",
    ]
    line = (
        "error: trainer.max_epochs: a resumed run keeps the learning-rate schedule it was trained with, "
        "built for trainer.max_epochs=3 (scheduler.T_max); past its end the learning rate would rise again; "
        "allowed: trainer.max_epochs=3 to resume, or a new run: make train " + " ".join(new_run)
    )
    assert err.strip() == line
    assert "Traceback" not in out + err
    assert _snapshot(tmp_path) == before

    # another argument of the schedule, silently replaced by the saved one otherwise
    code, out, err = _run_cli([f"resume={run_dir}", "scheduler.eta_min=0.0001"], monkeypatch, capfd, logs)
    assert code == 2
    assert err.strip().startswith(
        "error: scheduler.eta_min: a resumed run keeps the learning-rate schedule it was trained with, "
        "built for scheduler.eta_min=0.0; the checkpoint's scheduler state would replace 0.0001; "
        "allowed: scheduler.eta_min=0.0 to resume, or a new run: make train "
    )
    assert _snapshot(tmp_path) == before

    # ckpt_path= (a new run directory from the checkpoint): the same check before fitting
    last = run_dir / "checkpoints" / "last.ckpt"
    with pytest.raises(
        UserError, match=r"^trainer.max_epochs: .* built for trainer.max_epochs=3 \(scheduler.T_max\)"
    ):
        train(make_cfg(["scheduler=cosine", "trainer.max_epochs=6", f"ckpt_path={last}"]))
    checkpoints = run_dir / "checkpoints"
    assert _snapshot(checkpoints) == {k: v for k, v in before.items() if k.startswith(str(checkpoints))}
