"""Weights & Biases that never prompts: online with credentials, offline files in the run directory otherwise."""

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
    if not kwargs.get("group"):
        kwargs["group"] = sweep_group()
    if not kwargs.get("id"):
        kwargs["id"] = wandb_run_id(save_dir)
    kwargs.setdefault("resume", "allow")  # same id (a resumed run) -> continue that wandb run
    return WandbLogger(save_dir=save_dir, offline=resolved == "offline", mode=resolved, **kwargs)


def sweep_group() -> str | None:
    """In a multirun, the sweep directory's name, so a sweep's jobs form one W&B group."""
    from hydra.core.hydra_config import HydraConfig

    from lightning_hydra_template.distributed.sweep import in_multirun

    return Path(HydraConfig.get().sweep.dir).name if in_multirun() else None


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
