"""Start-up: process start to the first optimizer step of ``train experiment=baseline``, next to a bare
``import lightning``; and the CLI's ``--help`` and ``--cfg job`` (which must not import torch)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.timing import FIRST_STEP_FILE_ENV

TRAIN = (sys.executable, "-m", "lightning_hydra_template.train")
PROBE = "+callbacks.first_step._target_=benchmarks.timing.FirstStepProbe"


def _env(workdir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {**os.environ, "LHT_LOG_DIR": str(workdir / "logs"), **(extra or {})}
    env.pop("LHT_RUN_ID", None)
    env.pop("LHT_MAKE_OVERRIDES", None)
    return env


def _run(command: list[str], workdir: Path, env: dict[str, str] | None = None) -> float:
    """Wall seconds of one process, from just before it starts until it has exited."""
    start = time.perf_counter()
    done = subprocess.run(command, cwd=workdir, env=env or _env(workdir), capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip()[-800:]}")
    return seconds


def import_lightning_seconds(workdir: Path) -> float:
    return _run([sys.executable, "-c", "import lightning"], workdir)


def first_step_seconds(workdir: Path, overrides: tuple[str, ...] = ()) -> float:
    """Process start to the end of the first optimizer step of ``train experiment=baseline``."""
    handle, stamp_file = tempfile.mkstemp(dir=workdir, suffix=".stamp")
    os.close(handle)
    env = _env(workdir, {FIRST_STEP_FILE_ENV: stamp_file})
    started = time.time()
    _run([*TRAIN, "experiment=baseline", *overrides, PROBE], workdir, env)
    text = Path(stamp_file).read_text().strip()
    if not text:
        raise RuntimeError("the training process ended before its first optimizer step")
    return float(text) - started


def cli_seconds(flag: str, workdir: Path) -> float:
    """``train --help`` or ``train --cfg job``."""
    return _run([*TRAIN, *flag.split()], workdir)


def imports_torch(flag: str, workdir: Path) -> bool:
    """Whether ``train <flag>`` imports torch (read from ``python -X importtime``)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *TRAIN[1:], *flag.split()],
        cwd=workdir,
        env=_env(workdir),
        capture_output=True,
        text=True,
    )
    return any(line.rsplit("|", 1)[-1].strip() == "torch" for line in done.stderr.splitlines())
