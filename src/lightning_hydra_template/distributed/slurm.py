"""SLURM: a run directory that a requeued job finds again, the pre-timeout signal, and requeueing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def slurm_run_dir_arguments(args: list[str], task_name: str = "train") -> list[str]:
    """Under SLURM (one job, not a multirun) the run directory is named after the job id, so a
    requeued job lands in the same directory and resumes from its ``last.ckpt``."""
    job = os.environ.get("SLURM_JOB_ID")
    if not job or any(a in ("--multirun", "-m") for a in args):
        return args
    if any(_key(a) == "hydra.run.dir" for a in args):
        return args
    array = os.environ.get("SLURM_ARRAY_JOB_ID")
    name = f"slurm_{array}_{os.environ.get('SLURM_ARRAY_TASK_ID', '0')}" if array else f"slurm_{job}"
    run_dir = f"hydra.run.dir=${{paths.log_dir}}/${{task_name}}/runs/{name}"
    return [*args, run_dir]


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
