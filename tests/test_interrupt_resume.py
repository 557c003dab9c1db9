"""The command-line life of a run: killed, stopped by SIGTERM and Ctrl-C, resumed each time with
``resume=<run dir>`` in the same directory, logs appended, and the final step count exact."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import torch

from lightning_hydra_template.train import main as train_main
from tests.conftest import clean_env, run_main, run_module

MODULE = "lightning_hydra_template.train"
# 20 optimizer steps per epoch, a checkpoint after every step, CSV + TensorBoard logs.
ARGS = [
    "trainer.max_epochs=3",
    "trainer.accelerator=cpu",
    "callbacks.step_checkpoint.every_n_steps=1",
    "callbacks.early_stopping=null",
    "~callbacks.model_summary",
    "callbacks.progress_bar.style=lines",
    "logger=many",
    "test=false",
]


def _env(cwd: Path) -> dict[str, str]:
    return {**clean_env(), "LHT_LOG_DIR": str(cwd / "logs"), "PYTHONUNBUFFERED": "1"}


def _start(cwd: Path, args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", MODULE, *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _first_last_checkpoint(runs: Path, proc: subprocess.Popen, timeout: float) -> Path:
    """``last.ckpt`` of the one run under ``runs``, once the run has written it."""
    deadline = time.monotonic() + timeout
    while not list(runs.glob("*/checkpoints/last.ckpt")) and time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[0]
        time.sleep(0.05)
    (run_dir,) = list(runs.iterdir())
    return run_dir / "checkpoints" / "last.ckpt"


def _wait_for_new_checkpoint(last: Path, proc: subprocess.Popen, newer_than: float) -> None:
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if last.exists() and last.stat().st_mtime > newer_than + 1e-3:
            return
        assert proc.poll() is None, proc.communicate()[0]
        time.sleep(0.05)
    proc.kill()
    pytest.fail("no checkpoint was written")


def _step(path: Path) -> int:
    return torch.load(path, map_location="cpu", weights_only=True)["global_step"]


def _newest_loads(ckpt_dir: Path) -> int:
    newest = max(ckpt_dir.glob("*.ckpt"), key=lambda p: p.stat().st_mtime)
    return _step(newest)


# example:digits
@pytest.mark.slow
def test_kill_term_interrupt_and_resume_in_the_same_run_dir(tmp_path, monkeypatch, capfd):
    # budget: 3 training processes of a tiny 3-epoch run and the last resume in-process, ~45 s on 2 busy cores
    shm = Path("/dev/shm")
    env = _env(tmp_path)
    if shm.is_dir():
        env["TMPDIR"] = str(shm)  # checkpoints must not be staged there (another filesystem)

    # 1. SIGKILL mid-run: the newest checkpoint on disk still loads
    proc = _start(tmp_path, ARGS, env)
    runs = tmp_path / "logs" / "train" / "runs"
    last = _first_last_checkpoint(runs, proc, 240)
    run_dir = last.parent.parent
    _wait_for_new_checkpoint(last, proc, last.stat().st_mtime)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = _newest_loads(run_dir / "checkpoints")
    assert killed_at >= 1

    # 2. resumed, then SIGTERM: saves, says how to resume, exits 143
    proc = _start(tmp_path, [f"resume={run_dir}"], env)
    _wait_for_new_checkpoint(last, proc, last.stat().st_mtime)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 143, out
    assert f"resume with: make train resume={run_dir}" in out
    termed_at = _step(last)
    assert termed_at > killed_at

    # 3. resumed, then Ctrl-C: the same, exit 130
    proc = _start(tmp_path, [f"resume={run_dir}"], env)
    _wait_for_new_checkpoint(last, proc, last.stat().st_mtime)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, out
    assert "resume with:" in out
    assert _step(last) > termed_at

    # 4. resumed to the end, in the same directory, with the run's original overrides (the entry point
    # in-process: what a process boundary decides was checked above)
    staging = {"TMPDIR": env["TMPDIR"]} if "TMPDIR" in env else {}
    if staging:
        monkeypatch.setattr(tempfile, "tempdir", staging["TMPDIR"])  # read once per process
    code, out, err = run_main(train_main, [f"resume={run_dir}"], monkeypatch, capfd, tmp_path, env=staging)
    assert code == 0, out[-2000:] + err[-2000:]
    assert f"Resuming from {last.resolve()}" in out
    assert list(runs.iterdir()) == [run_dir]
    assert _step(last) == 60
    assert not [p for p in (run_dir / "checkpoints").iterdir() if p.name.startswith(".")]

    # logs were appended, not replaced: every epoch's validation row is in one metrics.csv
    with open(run_dir / "csv" / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    val_epochs = sorted({int(r["epoch"]) for r in rows if r.get("val/acc")})
    assert val_epochs == [0, 1, 2]
    assert len(list((run_dir / "tensorboard").glob("events.out.tfevents.*"))) >= 4

    # a directory without a checkpoint: one line, exit 2, nothing created
    empty = tmp_path / "empty_run"
    empty.mkdir()
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    bad = run_module(MODULE, [f"resume={empty}"], tmp_path)
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        f"error: resume: no checkpoint at {empty.resolve()}/checkpoints/last.ckpt; "
        "nothing to resume (start a new run without resume=)"
    ]
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


# /example:digits


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists() and time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[0]
        time.sleep(0.05)
    assert path.exists(), "no checkpoint was written"


def _kill_group(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


# One optimizer step per epoch and far more epochs than the test waits for: a signal that is not acted
# on lets the run go on until the test's timeout.
FULL_BATCH = [
    "data.batch_size=full",
    "trainer.max_epochs=100000",
    "trainer.accelerator=cpu",
    "callbacks.early_stopping=null",
    "~callbacks.model_summary",
    "callbacks.progress_bar.style=lines",
    "test=false",
]


@pytest.mark.slow
def test_sigterm_stops_a_run_of_one_step_per_epoch(tmp_path, monkeypatch, capfd):
    # budget: a short training process and its resume in-process, ~20 s on 2 busy cores
    env = _env(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", MODULE, *FULL_BATCH],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        runs = tmp_path / "logs" / "train" / "runs"
        last = _first_last_checkpoint(runs, proc, 240)
        run_dir = last.parent.parent
        _wait_for(last, proc)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=120)
    finally:
        _kill_group(proc)
    assert proc.returncode == 143, out
    assert f"checkpoint saved to {last}; resume with: make train resume={run_dir}" in out
    saved = torch.load(last, map_location="cpu", weights_only=True)
    stopped_at = saved["global_step"]
    assert 1 <= stopped_at < 1000

    # the saved state resumes: two more epochs, one step each, every epoch in the history once
    # (the entry point in-process)
    code, out, err = run_main(
        train_main,
        [f"resume={run_dir}", f"trainer.max_epochs={stopped_at + 2}"],
        monkeypatch,
        capfd,
        tmp_path,
    )
    assert code == 0, out[-2000:] + err[-2000:]
    assert _step(last) == stopped_at + 2
    history = json.loads((run_dir / "summary.json").read_text())["history"]
    assert [row["epoch"] for row in history] == list(range(1, stopped_at + 3))
    assert all("train/loss" in row and "val/loss" in row for row in history)


# Two CPU processes, a checkpoint after every step.
DDP = [
    "trainer=ddp_cpu",
    "data.batch_size=32",
    "trainer.max_epochs=1000",
    "callbacks.step_checkpoint.every_n_steps=1",
    "callbacks.early_stopping=null",
    "~callbacks.model_summary",
    "callbacks.progress_bar.style=lines",
    "test=false",
]


@pytest.mark.slow
def test_sigterm_and_ctrl_c_under_ddp_save_and_exit_like_one_process(tmp_path):
    # budget: two DDP runs of 2 forked workers each, ~60-90 s on 2 busy cores
    env = {**_env(tmp_path), "OMP_NUM_THREADS": "1"}
    runs = tmp_path / "logs" / "train" / "runs"

    def start(args: list[str]) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", MODULE, *args],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own process group: Ctrl-C below reaches it and its workers only
        )

    # SIGTERM to the launching process alone (kill <pid>): its workers save, all exit 143
    proc = start(DDP)
    try:
        last = _first_last_checkpoint(runs, proc, 300)
        run_dir = last.parent.parent
        _wait_for_new_checkpoint(last, proc, last.stat().st_mtime)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=120)
    finally:
        _kill_group(proc)
    assert proc.returncode == 143, out
    assert f"resume with: make train resume={run_dir}" in out
    termed_at = _step(last)
    assert termed_at >= 1

    # resumed, then Ctrl-C as a terminal sends it (to the whole process group): exit 130
    proc = start([f"resume={run_dir}"])
    try:
        _wait_for_new_checkpoint(last, proc, last.stat().st_mtime)
        os.killpg(proc.pid, signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
    finally:
        _kill_group(proc)
    assert proc.returncode == 130, out
    assert f"resume with: make train resume={run_dir}" in out
    assert _step(last) > termed_at
    assert "Traceback" not in out
