"""Checkpoint writes survive SIGKILL at any moment, with $TMPDIR on another filesystem."""

from __future__ import annotations

import os
import random
import select
import signal
import tempfile
import time
from pathlib import Path

import pytest
import torch

from lightning_hydra_template.runs.checkpoint_io import (
    TEMP_MARKER,
    AtomicCheckpointIO,
    plain_checkpoint,
    remove_stale_temporaries,
)

SHM = Path("/dev/shm")


# Built before forking: a forked child must not run parallel torch kernels (OpenMP may hang after fork).
BLOCKS = 6


def _blocks() -> list[torch.Tensor]:
    return [torch.full((2_000_000,), float(v)) for v in range(BLOCKS)]  # 8 MB each


def _writer(target: Path, ready_fd: int, blocks: list[torch.Tensor]) -> None:
    """Child: saves checkpoints 1, 2, 3, ... to ``target`` forever; reports each start on a pipe."""
    io = AtomicCheckpointIO()
    version = 0
    while True:
        version += 1
        os.write(ready_fd, b"s")
        io.save_checkpoint({"state_dict": {"w": blocks[version % BLOCKS]}, "version": version}, target)


def _loads(path: Path) -> int:
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    version = checkpoint["version"]
    assert torch.all(checkpoint["state_dict"]["w"] == version % BLOCKS)  # complete, not a mix of two saves
    return version


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "fork") or not SHM.is_dir(), reason="needs fork and /dev/shm")
def test_sigkill_during_saves_never_leaves_a_broken_checkpoint(tmp_path, monkeypatch):
    # budget: 40 forked writers killed after 0-250 ms, ~10 s in all; no process start-up cost
    tmpdir = SHM / f"lht-test-{os.getpid()}"
    tmpdir.mkdir(exist_ok=True)
    monkeypatch.setenv("TMPDIR", str(tmpdir))  # another filesystem than tmp_path (ext4 vs tmpfs)
    monkeypatch.setattr(tempfile, "tempdir", None)  # tempfile caches the directory it found first
    target = tmp_path / "checkpoints" / "last.ckpt"
    rng = random.Random(0)
    kill_points = 40
    versions = []
    stray_seen = 0
    blocks = _blocks()
    try:
        for _ in range(kill_points):
            read_fd, write_fd = os.pipe()
            pid = os.fork()
            if pid == 0:  # pragma: no cover - child
                os.close(read_fd)
                try:
                    _writer(target, write_fd, blocks)
                finally:
                    os._exit(0)
            os.close(write_fd)
            ready, _, _ = select.select([read_fd], [], [], 30)
            if not ready:  # never hang the suite
                os.kill(pid, signal.SIGKILL)
                pytest.fail("writer process did not start saving")
            os.read(read_fd, 1)  # the child is inside its first save (or later ones)
            time.sleep(rng.uniform(0.0, 0.25))
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            os.close(read_fd)
            assert list(tmpdir.iterdir()) == []  # nothing staged in $TMPDIR
            if target.exists():
                versions.append(_loads(target))
            stray = list(target.parent.glob(f".*{TEMP_MARKER}*"))
            stray_seen += len(stray)
            removed = remove_stale_temporaries(target.parent)  # what the next run does first
            assert sorted(removed) == sorted(stray)
            assert not list(target.parent.glob(f".*{TEMP_MARKER}*"))
    finally:
        for leftover in tmpdir.iterdir():
            leftover.unlink()
        tmpdir.rmdir()
    assert versions, "no checkpoint was ever completed"
    assert stray_seen > 0, "no kill landed inside a save: the test did not test anything"


def test_atomic_save_replaces_and_loads_safely(tmp_path):
    io = AtomicCheckpointIO()
    target = tmp_path / "a" / "last.ckpt"
    io.save_checkpoint({"state_dict": {"w": torch.ones(3)}, "n": 1}, target)
    io.save_checkpoint({"state_dict": {"w": torch.ones(3) * 2}, "n": 2}, target)
    assert io.load_checkpoint(target)["n"] == 2
    assert [p.name for p in target.parent.iterdir()] == ["last.ckpt"]


def test_omegaconf_values_become_plain_containers(tmp_path):
    from omegaconf import OmegaConf

    hparams = OmegaConf.create({"net": {"hidden": [1, 2]}, "lr": 0.1})
    checkpoint = {"state_dict": {}, "hyper_parameters": hparams}
    path = tmp_path / "x.ckpt"
    AtomicCheckpointIO().save_checkpoint(checkpoint, path)
    loaded = torch.load(path, weights_only=True)  # fails for OmegaConf objects
    assert loaded["hyper_parameters"] == {"net": {"hidden": [1, 2]}, "lr": 0.1}
    assert plain_checkpoint(hparams) == {"net": {"hidden": [1, 2]}, "lr": 0.1}


def test_stale_temporaries_of_live_processes_are_kept(tmp_path):
    mine = tmp_path / f".last.ckpt{TEMP_MARKER}{os.getppid()}-abc"  # the parent process is alive
    dead = tmp_path / f".last.ckpt{TEMP_MARKER}999999999-abc"
    unrelated = tmp_path / "notes.tmp-1"
    for path in (mine, dead, unrelated):
        path.write_bytes(b"x")
    assert remove_stale_temporaries(tmp_path) == [dead]
    assert mine.exists() and unrelated.exists()


def test_malicious_checkpoint_is_refused_without_running_code(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "payload": _Evil(str(marker))}, evil)
    with pytest.raises(Exception, match="(?i)weights.only|unpickl|unsupported"):
        AtomicCheckpointIO().load_checkpoint(evil)  # what Lightning's ckpt_path resume calls
    assert not marker.exists()


class _Evil:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))
