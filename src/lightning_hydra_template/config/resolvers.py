"""OmegaConf resolvers the configs use; registered before Hydra composes anything."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from omegaconf import OmegaConf

# The directories this run created, inherited by the processes that belong to the run (sweep jobs
# started by submitit re-resolve hydra.sweep.dir in their own process) so they find them again.
RUN_DIR_ENV = "LHT_RUN_DIR"
_ATTEMPTS = 1000


def new_run_dir(base: str) -> str:
    """``<base>_<4 hex digits>``, created here with an exclusive ``mkdir``: a directory another run
    created first (two runs started in the same second) is never shared; another id is drawn instead.

    Resolved again in the same run (Hydra re-resolves its config, a sweep job in another process),
    the same base gives the directory already created.
    """
    created = [d for d in os.environ.get(RUN_DIR_ENV, "").split(os.pathsep) if d]
    for directory in created:
        if directory.startswith(f"{base}_") and Path(directory).is_dir():
            return directory
    Path(base).parent.mkdir(parents=True, exist_ok=True)
    for _ in range(_ATTEMPTS):
        candidate = f"{base}_{secrets.token_hex(2)}"
        try:
            os.mkdir(candidate)
        except FileExistsError:
            continue
        os.environ[RUN_DIR_ENV] = os.pathsep.join([*created, candidate])  # a sweep's and its runs'
        return candidate
    raise FileExistsError(f"no free run directory name next to {base} after {_ATTEMPTS} attempts")


def start_new_run() -> None:
    """A command-line invocation is a run of its own: it never reuses a directory it inherited."""
    os.environ.pop(RUN_DIR_ENV, None)


def register_resolvers() -> None:
    if not OmegaConf.has_resolver("lht_run_dir"):
        OmegaConf.register_new_resolver("lht_run_dir", new_run_dir)
