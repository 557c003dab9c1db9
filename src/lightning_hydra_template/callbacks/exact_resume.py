"""What Lightning leaves out of a checkpoint but an exact resume needs.

Lightning stores weights, optimizer, schedulers, loop counters and (through the loader's
``state_dict``) the position inside the epoch. Not stored: the random generators (dropout, random
augmentation) and the module's running per-epoch accumulators (training-loss sums, torchmetrics
states, the best-so-far tracker), which are non-persistent. This callback adds both, so a run resumed
from any checkpoint continues with the very numbers an uninterrupted run would have had.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from torchmetrics import Metric

STATE_KEY = "lht_resume"


def collect_rng_states() -> dict[str, Any]:
    """Python, numpy, torch and (when present) CUDA generator states, as tensors and plain containers."""
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    states: dict[str, Any] = {
        "python": {"version": version, "state": list(internal), "gauss": gauss},
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached": float(cached),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_rng_states(states: dict[str, Any]) -> None:
    py = states["python"]
    random.setstate((py["version"], tuple(py["state"]), py["gauss"]))
    npy = states["numpy"]
    keys = npy["keys"].numpy().astype(np.uint32)
    np.random.set_state((npy["kind"], keys, npy["pos"], npy["has_gauss"], npy["cached"]))
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        cuda_states = states["cuda"]
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)


def _detached(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().clone().cpu()
    if isinstance(value, list):
        return [_detached(v) for v in value]
    return value


def collect_running_state(module: LightningModule) -> dict[str, Any]:
    """Non-persistent buffers and torchmetrics states of every submodule, by qualified name."""
    state: dict[str, Any] = {}
    for name, sub in module.named_modules():
        prefix = f"{name}." if name else ""
        for buffer_name in getattr(sub, "_non_persistent_buffers_set", ()):
            buffer = getattr(sub, buffer_name, None)
            if isinstance(buffer, torch.Tensor):
                state[f"buffer:{prefix}{buffer_name}"] = _detached(buffer)
        if isinstance(sub, Metric):
            state[f"metric:{name}"] = {
                "states": {k: _detached(getattr(sub, k)) for k in sub._defaults},
                "update_count": int(sub._update_count),
            }
    return state


def _upgraded(state: dict[str, Any]) -> dict[str, Any]:
    """Checkpoints written while TaskModule kept its training-loss sums in buffers: the same sums,
    as the states of today's ``train_loss`` metric (models/running_loss.py)."""
    total, count = state.get("buffer:_train_loss_sum"), state.get("buffer:_train_count")
    if total is None or count is None or "metric:train_loss" in state:
        return state
    legacy = {"states": {"total": total, "count": count}, "update_count": int(count > 0)}
    rest = {k: v for k, v in state.items() if k not in ("buffer:_train_loss_sum", "buffer:_train_count")}
    return {**rest, "metric:train_loss": legacy}


def restore_running_state(module: LightningModule, state: dict[str, Any]) -> None:
    modules = dict(module.named_modules())
    for key, value in _upgraded(state).items():
        kind, _, qualified = key.partition(":")
        if kind == "buffer":
            owner_name, _, attr = qualified.rpartition(".")
            owner = modules.get(owner_name)
            current = getattr(owner, attr, None) if owner is not None else None
            if isinstance(current, torch.Tensor) and current.shape == value.shape:
                current.copy_(value.to(current.device))
        elif kind == "metric":
            metric = modules.get(qualified)
            if not isinstance(metric, Metric):
                continue
            device = metric.device
            for attr, saved in value["states"].items():
                if isinstance(saved, torch.Tensor):
                    saved = saved.to(device)
                elif isinstance(saved, list):
                    saved = [s.to(device) if isinstance(s, torch.Tensor) else s for s in saved]
                setattr(metric, attr, saved)
            metric._update_count = value["update_count"]
            metric._computed = None


class ExactResume(Callback):
    """Saves random states and running accumulators with every checkpoint and puts them back
    when training resumes from it."""

    def __init__(self) -> None:
        self._pending: dict[str, Any] | None = None

    def on_save_checkpoint(
        self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        flush = getattr(pl_module, "flush_running_state", None)
        if callable(flush):  # steps still buffered for batched metric updates belong to the saved state
            flush()
        checkpoint[STATE_KEY] = {
            "epoch": trainer.current_epoch,
            "rng": collect_rng_states(),
            "running": collect_running_state(pl_module),
        }

    def on_load_checkpoint(
        self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        # Applied at train start: nothing between here and the first batch may draw random numbers.
        self._pending = checkpoint.get(STATE_KEY)

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self._pending is None:
            return
        if self._pending.get("epoch") == trainer.current_epoch:  # same epoch: continue its sums
            restore_running_state(pl_module, self._pending.get("running", {}))
        restore_rng_states(self._pending["rng"])
        self._pending = None
