"""SLURM: a run directory that a requeued job finds again, the pre-timeout signal, and requeueing."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterable


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def _is_task_override(word: str) -> bool:
    """Whether Hydra records this command-line word in ``hydra.overrides.task`` (not a flag, not hydra.*)."""
    if word.startswith("-") or ("=" not in word and not word.startswith("~")):
        return False
    return not _key(word).startswith(("hydra.", "hydra/"))  # as Hydra's Override.is_hydra_override


def overrides_digest(overrides: Iterable[str]) -> str:
    """8 hex digits naming a set of overrides, whatever their order."""
    words = sorted(w for w in overrides if _is_task_override(w))
    return hashlib.sha256("\n".join(words).encode()).hexdigest()[:8]


def slurm_run_name(overrides: Iterable[str]) -> str | None:
    """``slurm_<job>[_<array task>]_<digest of the overrides>`` inside a SLURM job, else None.

    The same command in the same job (a requeued job) gets the same name; another command typed in
    the same allocation (``for s in 1 2 3; do make train seed=$s; done``) gets its own.
    """
    job = os.environ.get("SLURM_JOB_ID")
    if not job:
        return None
    array = os.environ.get("SLURM_ARRAY_JOB_ID")
    prefix = f"slurm_{array}_{os.environ.get('SLURM_ARRAY_TASK_ID', '0')}" if array else f"slurm_{job}"
    return f"{prefix}_{overrides_digest(overrides)}"


def slurm_run_dir_arguments(args: list[str], task_name: str = "train") -> list[str]:
    """Under SLURM (one run, not a multirun, no ``hydra.run.dir`` given) the run directory is named by
    :func:`slurm_run_name`, so a requeued job lands in the same directory and resumes from its
    ``last.ckpt`` (runs/resume.py)."""
    name = slurm_run_name(args)
    if name is None or any(a in ("--multirun", "-m") for a in args):
        return args
    if any(_key(a) == "hydra.run.dir" for a in args):
        return args
    return [*args, f"hydra.run.dir=${{paths.log_dir}}/${{task_name}}/runs/{name}"]


def slurm_requeue_signal() -> int | None:
    """The signal SLURM sends before the time limit (``--signal=USR1@90``), when running under SLURM."""
    return signal.SIGUSR1 if os.environ.get("SLURM_JOB_ID") else None


def scontrol_requeue() -> bool:
    """``scontrol requeue`` this job (or array task); called by rank 0 only."""
    job = os.environ.get("SLURM_JOB_ID", "")
    if os.environ.get("SLURM_ARRAY_JOB_ID"):
        job = f"{os.environ['SLURM_ARRAY_JOB_ID']}_{os.environ.get('SLURM_ARRAY_TASK_ID', '')}"
    try:
        result = subprocess.run(["scontrol", "requeue", job], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as err:
        print(f"could not requeue SLURM job {job}: {err}", file=sys.stderr, flush=True)
        return False
    if result.returncode != 0:
        print(f"could not requeue SLURM job {job}: {result.stderr.strip()}", file=sys.stderr, flush=True)
    return result.returncode == 0
