"""Sweep jobs that fail on their own: one failed job is recorded and, by default, the others go on.

Inside a Hydra multirun, a job's error is written to ``<job dir>/status.json`` and the job returns
normally, so neither the launcher nor the sweeper stops. With
``hydra.callbacks.sweep_report.continue_on_failure=false`` the first failure leaves a ``.stop`` marker
in the sweep directory and jobs that start later are skipped. The :class:`SweepReport` callback then
writes the report and ends the sweep with a non-zero status listing the failed jobs.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from lightning_hydra_template.config.errors import UserError, traceback_requested
from lightning_hydra_template.config.secrets import redact, redact_files, redact_text

log = logging.getLogger(__name__)

STATUS_FILE = "status.json"
STOP_MARKER = ".stop"
EXIT_JOBS_FAILED = 1


def in_multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def _continue_on_failure(hydra_cfg: Any) -> bool:
    value = OmegaConf.select(hydra_cfg, "callbacks.sweep_report.continue_on_failure", default=True)
    return bool(value)


def write_status(job_dir: Path, status: str, **fields: Any) -> Path:
    path = job_dir / STATUS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    record = redact({"status": status, **fields})  # overrides and error texts may hold a secret
    path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    return path


def run_sweep_job(task: Callable[[DictConfig], Any], cfg: DictConfig) -> Any:
    """Run one multirun job; an exception becomes a recorded failure instead of ending the sweep."""
    hydra_cfg = HydraConfig.get()
    job_dir = Path(hydra_cfg.runtime.output_dir)
    stop = Path(hydra_cfg.sweep.dir) / STOP_MARKER
    overrides = list(hydra_cfg.overrides.task)
    if stop.exists():
        write_status(job_dir, "skipped", error=f"an earlier job failed ({stop.read_text().strip()})")
        log.error("skipped: an earlier job of this sweep failed and continue_on_failure is false")
        return None
    try:
        return task(cfg)
    except Exception as err:
        if traceback_requested():
            raise
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        message = redact_text(first if isinstance(err, UserError) else f"{type(err).__name__}: {first}")
        write_status(job_dir, "failed", error=message, overrides=overrides)
        if not isinstance(err, UserError):
            log.error(redact_text("".join(traceback.format_exception(err))))  # the job's log keeps it
        shown = redact_text(" ".join(overrides))
        print(f"error: job {hydra_cfg.job.num} ({shown}): {message}", file=sys.stderr, flush=True)
        if not _continue_on_failure(hydra_cfg):
            stop.write_text(f"job {hydra_cfg.job.num}: {message}\n")
        return None


class SweepReport(Callback):
    """Hydra callback: at the end of a multirun write report.md/.csv/.png into the sweep directory,
    then exit non-zero if any job failed or was skipped."""

    def __init__(self, enabled: bool = True, continue_on_failure: bool = True) -> None:
        self.enabled = enabled
        self.continue_on_failure = continue_on_failure

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from lightning_hydra_template.distributed.sweep_report import collect_jobs, write_report

        sweep_dir = Path(config.hydra.sweep.dir)
        if not sweep_dir.is_dir():
            return
        redact_files([sweep_dir / "multirun.yaml"])  # each job masked it already; also when none started
        if self.enabled:
            jobs = write_report(sweep_dir)
            print(f"Sweep report: {sweep_dir / 'report.md'}", flush=True)
        else:
            jobs = collect_jobs(sweep_dir)
        bad = [j for j in jobs if j["status"] != "completed"]
        if bad:
            print(f"error: {len(bad)} of {len(jobs)} sweep jobs did not complete:", file=sys.stderr)
            for job in bad:
                print(f"  job {job['job']} {job['status']}: {job['error']}", file=sys.stderr)
            sys.stderr.flush()
            sys.exit(EXIT_JOBS_FAILED)
