"""Checkpoint files that are either complete or absent, never truncated.

Lightning's ``TorchCheckpointIO`` writes through an fsspec transaction that stages the file in
``$TMPDIR`` and moves it into place; when ``$TMPDIR`` is another filesystem the move is a copy, so a
kill during it leaves a truncated ``last.ckpt``. Here every write is staged *beside* its target,
flushed and fsynced, renamed over the target with ``os.replace`` (atomic within one filesystem) and
the directory entry is fsynced too. Loading always uses ``weights_only=True``.
"""

from __future__ import annotations

import io
import os
import secrets
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins import TorchCheckpointIO
from omegaconf import DictConfig, ListConfig, OmegaConf

from lightning_hydra_template.config.secrets import redact_text, secret_values

TEMP_MARKER = ".tmp-"  # staged files are named .<target name>.tmp-<pid>-<random>


def _staging_path(target: Path) -> Path:
    return target.with_name(f".{target.name}{TEMP_MARKER}{os.getpid()}-{secrets.token_hex(3)}")


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # e.g. platforms without directory file descriptors
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(data: bytes | memoryview, target: str | Path) -> None:
    """Write ``data`` to ``target`` so that readers only ever see the old or the new complete file."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staged = _staging_path(target)
    try:
        with open(staged, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(staged, target)
    except BaseException:
        staged.unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)


def remove_stale_temporaries(directory: str | Path) -> list[Path]:
    """Delete files staged by a process that died mid-save (only ours: ``.<name>.tmp-<pid>-...``)."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    removed = []
    for path in directory.glob(f".*{TEMP_MARKER}*"):
        pid = path.name.rsplit(TEMP_MARKER, 1)[-1].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and _alive(int(pid)):
            continue  # another live process is writing it right now
        path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def plain_checkpoint(value: Any, known: list[str] | None = None) -> Any:
    """OmegaConf nodes become plain containers (``weights_only=True`` cannot load them); strings
    holding a secret (see config/secrets.py) are masked."""
    if known is None:  # looked up once per checkpoint
        known = secret_values()
    if isinstance(value, (DictConfig, ListConfig)):
        return plain_checkpoint(OmegaConf.to_container(value, resolve=True), known)
    if isinstance(value, dict):
        return {k: plain_checkpoint(v, known) for k, v in value.items()}
    if isinstance(value, list):
        return [plain_checkpoint(v, known) for v in value]
    if isinstance(value, tuple):
        return tuple(plain_checkpoint(v, known) for v in value)
    if isinstance(value, str):
        return redact_text(value, known)
    return value


class AtomicCheckpointIO(TorchCheckpointIO):
    """``TorchCheckpointIO`` with atomic, durable local writes and safe (``weights_only``) loads."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} does not take storage_options")
        buffer = io.BytesIO()
        torch.save(plain_checkpoint(checkpoint), buffer)
        atomic_write_bytes(buffer.getbuffer(), path)

    def load_checkpoint(self, path: Any, *args: Any, **kwargs: Any) -> Any:
        # Never unpickle arbitrary objects, whatever the caller asked for.
        kwargs["weights_only"] = True
        return super().load_checkpoint(path, *args[:1], **kwargs)
