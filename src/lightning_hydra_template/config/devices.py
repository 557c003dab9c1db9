"""Is the requested accelerator on this machine? Answered without importing torch where the answer is sure.

Importing torch takes seconds; a machine without any GPU device node, a CUDA_VISIBLE_DEVICES that hides
every GPU, or a platform without Apple's Metal can be told apart before. When these cheap signs cannot
decide, torch has the final word (runs/environment.py).
"""

from __future__ import annotations

import glob
import importlib.util
import os
import re
import sys

from lightning_hydra_template.config.errors import ConfigError

CPU_HINT = "use trainer=cpu or trainer.accelerator=auto"

# Device nodes of GPUs torch.cuda can drive on Linux: NVIDIA, AMD ROCm (/dev/kfd) and WSL2 (/dev/dxg).
_GPU_NODES = ("/dev/nvidia*", "/proc/driver/nvidia", "/dev/kfd", "/dev/dxg")


def _cuda_hidden_by_env() -> str | None:
    """CUDA (and torch) see no device when the list's first entry is empty or negative."""
    value = os.environ.get("CUDA_VISIBLE_DEVICES")
    if value is None:
        return None
    first = value.split(",")[0].strip()
    if first == "" or re.fullmatch(r"-\d+", first):
        return f"CUDA_VISIBLE_DEVICES={value!r} hides every GPU"
    return None


def no_cuda_reason() -> str | None:
    """Why no CUDA GPU can be visible here, or None when only torch can tell."""
    if hidden := _cuda_hidden_by_env():
        return hidden
    if sys.platform == "darwin":
        return "macOS has no CUDA"
    if sys.platform.startswith("linux") and not any(glob.glob(pattern) for pattern in _GPU_NODES):
        return "no /dev/nvidia* device on this machine"
    return None


def accelerator_unavailable(accelerator: object) -> str | None:
    """The one-line problem with ``trainer.accelerator`` when this machine surely cannot provide it."""
    if accelerator in ("gpu", "cuda") and (why := no_cuda_reason()):
        return f"{accelerator} requested but no CUDA GPU is visible ({why}); {CPU_HINT}"
    if accelerator == "mps" and sys.platform != "darwin":
        return f"mps requested but Apple's Metal backend only exists on macOS; {CPU_HINT}"
    if accelerator == "tpu" and importlib.util.find_spec("torch_xla") is None:
        return f"tpu requested but torch_xla is not installed; {CPU_HINT}"
    return None


def check_accelerator_cheaply(accelerator: object) -> None:
    """Raise :class:`ConfigError` when the accelerator surely is not here; never imports torch."""
    if problem := accelerator_unavailable(accelerator):
        raise ConfigError("trainer.accelerator", problem)
