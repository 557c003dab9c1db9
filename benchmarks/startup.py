"""Start-up: a whole ``train debug=fdr`` and the time to the first optimizer step of ``train
experiment=baseline``, next to a bare ``import lightning``; and the CLI's ``--help`` and ``--cfg job``
(which must not import torch)."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

from benchmarks.timing import FIRST_STEP_FILE_ENV

TRAIN = (sys.executable, "-m", "lightning_hydra_template.train")
IMPORT_LIGHTNING = (sys.executable, "-c", "import lightning")
PROBE = "+callbacks.first_step._target_=benchmarks.timing.FirstStepProbe"


class ProcessTime(NamedTuple):
    """One process: wall seconds from just before it starts until it has exited, and the CPU seconds
    (user + system) it and its children used, which a busy shared machine disturbs less."""

    wall: float
    cpu: float


# The timed processes run in a temporary folder; the first-step probe they load lives in this checkout.
CHECKOUT = Path(__file__).resolve().parents[1]


def bench_env(workdir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    python_path = os.pathsep.join(p for p in (str(CHECKOUT), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "LHT_LOG_DIR": str(workdir / "logs"), "PYTHONPATH": python_path, **(extra or {})}
    env.pop("LHT_RUN_ID", None)
    env.pop("LHT_MAKE_OVERRIDES", None)
    return env


def _children_cpu_seconds() -> float:
    try:
        import resource
    except ImportError:  # Windows
        return math.nan
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_run(
    command: list[str] | tuple[str, ...], workdir: Path, env: dict[str, str] | None = None
) -> ProcessTime:
    cpu_before = _children_cpu_seconds()
    start = time.perf_counter()
    done = subprocess.run(command, cwd=workdir, env=env or bench_env(workdir), capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip()[-800:]}")
    return ProcessTime(wall, _children_cpu_seconds() - cpu_before)


def import_lightning_time(workdir: Path) -> ProcessTime:
    """``python -c "import lightning"``: the floor of every run's start-up."""
    return timed_run(IMPORT_LIGHTNING, workdir)


def fdr_time(workdir: Path, overrides: tuple[str, ...] = ()) -> ProcessTime:
    """A whole ``train debug=fdr`` (one training, validation and test batch), process start to exit."""
    return timed_run([*TRAIN, "debug=fdr", *overrides], workdir)


def first_step_seconds(workdir: Path, overrides: tuple[str, ...] = ()) -> float:
    """Process start to the end of the first optimizer step of ``train experiment=baseline``."""
    handle, stamp_file = tempfile.mkstemp(dir=workdir, suffix=".stamp")
    os.close(handle)
    env = bench_env(workdir, {FIRST_STEP_FILE_ENV: stamp_file})
    started = time.time()
    timed_run([*TRAIN, "experiment=baseline", *overrides, PROBE], workdir, env)
    text = Path(stamp_file).read_text().strip()
    if not text:
        raise RuntimeError("the training process ended before its first optimizer step")
    return float(text) - started


def cli_seconds(flag: str, workdir: Path) -> float:
    """``train --help`` or ``train --cfg job``."""
    return timed_run([*TRAIN, *flag.split()], workdir).wall


def imports_torch(flag: str, workdir: Path) -> bool:
    """Whether ``train <flag>`` imports torch (read from ``python -X importtime``)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *TRAIN[1:], *flag.split()],
        cwd=workdir,
        env=bench_env(workdir),
        capture_output=True,
        text=True,
    )
    return any(line.rsplit("|", 1)[-1].strip() == "torch" for line in done.stderr.splitlines())
