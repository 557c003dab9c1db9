"""The Trainer's profiler when none is configured: one that costs nothing per hook.

Lightning wraps every hook it calls (about 50 per training step with the default callbacks) in
``trainer.profiler.profile(name)``. Its default ``PassThroughProfiler`` builds a generator-based
context manager for each of them; this one hands back the same empty context every time.
"""

from __future__ import annotations

import contextlib
from typing import Any

from lightning.pytorch.profilers import PassThroughProfiler

_NO_CONTEXT = contextlib.nullcontext()


class NoProfiler(PassThroughProfiler):
    """Records nothing, like ``PassThroughProfiler``, without per-hook allocations."""

    def profile(self, action_name: str) -> contextlib.AbstractContextManager[Any]:  # type: ignore[override]
        return _NO_CONTEXT


def default_profiler(trainer_cfg: Any) -> dict[str, Any]:
    """``{"profiler": NoProfiler()}`` unless the config names a profiler (e.g. ``debug=profiler``)."""
    if trainer_cfg.get("profiler"):
        return {}
    return {"profiler": NoProfiler()}
