"""Logger factories that need more than a ``_target_``."""

from __future__ import annotations

import netrc
import os
from pathlib import Path
from typing import Any

WANDB_MODES = ("auto", "online", "offline", "disabled")


def wandb_credentials_present() -> bool:
    """True when wandb could log in without asking: WANDB_API_KEY or a `wandb login` netrc entry."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    path = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    try:
        hosts = netrc.netrc(path).hosts
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False
    return any("wandb" in host for host in hosts)


def resolve_wandb_mode(mode: str) -> str:
    if mode not in WANDB_MODES:
        raise ValueError(f"logger.wandb.mode must be one of {', '.join(WANDB_MODES)}, got {mode!r}")
    if mode == "auto":
        return "online" if wandb_credentials_present() else "offline"
    return mode


def wandb_logger(mode: str = "auto", save_dir: str = ".", **kwargs: Any):
    """A Lightning ``WandbLogger`` that never prompts: offline files when no credentials exist."""
    from lightning.pytorch.loggers import WandbLogger

    resolved = resolve_wandb_mode(mode)
    Path(save_dir).mkdir(parents=True, exist_ok=True)
    if not kwargs.get("id"):
        kwargs["id"] = wandb_run_id(save_dir)
    kwargs.setdefault("resume", "allow")  # same id (a resumed run) -> continue that wandb run
    return WandbLogger(save_dir=save_dir, offline=resolved == "offline", mode=resolved, **kwargs)


WANDB_ID_FILE = "wandb_run_id.txt"


def wandb_run_id(save_dir: str | Path) -> str:
    """The wandb run id of this run directory: created once and stored, so a resumed run (same
    directory) continues the same wandb run instead of starting a new one."""
    path = Path(save_dir) / WANDB_ID_FILE
    if path.is_file() and (stored := path.read_text().strip()):
        return stored
    import secrets

    run_id = secrets.token_hex(4)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(run_id + "\n")
    return run_id


def resumable_csv_logger(save_dir: str, name: str = "csv", version: str | int | None = "", **kwargs: Any):
    """A Lightning ``CSVLogger`` that appends to an existing metrics.csv (a resumed run).

    Lightning's writer deletes an existing metrics.csv and starts with no known columns; this one keeps
    the file and starts from its header, so the rows of both runs share one table.
    """
    import csv

    from lightning.pytorch.loggers import CSVLogger
    from lightning.pytorch.loggers.csv_logs import ExperimentWriter
    from lightning.pytorch.utilities.rank_zero import rank_zero_only

    class _AppendingWriter(ExperimentWriter):
        def __init__(self, log_dir: str) -> None:
            super().__init__(log_dir)
            if self._fs.isfile(self.metrics_file_path):
                with self._fs.open(self.metrics_file_path, "r", newline="") as handle:
                    header = next(csv.reader(handle), [])
                self.metrics_keys = sorted(set(header))

        def _check_log_dir_exists(self) -> None:
            pass  # Lightning's version deletes an existing metrics.csv

    class _ResumableCSVLogger(CSVLogger):
        @property
        def experiment(self) -> Any:
            if self._experiment is None and rank_zero_only.rank == 0:  # as rank_zero_experiment
                self._fs.makedirs(self.root_dir, exist_ok=True)
                self._experiment = _AppendingWriter(log_dir=self.log_dir)
            return super().experiment

    return _ResumableCSVLogger(save_dir=save_dir, name=name, version=version, **kwargs)
