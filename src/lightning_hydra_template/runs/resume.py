"""Resuming: ``resume=<run dir>`` on the command line, and checks of a checkpoint before fitting from it.

Nothing here imports torch at module level: the command-line part runs before Hydra.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from lightning_hydra_template.config.errors import ConfigError, UserError, fail

RESUME_ARG = "resume"
CKPT_SUBPATH = Path("checkpoints") / "last.ckpt"
# Overrides of the original run that a resume replaces.
_REPLACED_KEYS = ("ckpt_path", "hydra.run.dir", RESUME_ARG)


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def resume_arguments(args: list[str]) -> list[str]:
    """Expand ``resume=<run dir>`` into that run's own overrides, its directory and its last checkpoint.

    Extra overrides typed after ``resume=`` still apply (e.g. ``trainer.max_epochs=30`` to train longer).
    A directory without ``checkpoints/last.ckpt`` ends the program with one line; nothing is created.
    """
    wanted = [a for a in args if a.split("=", 1)[0] == RESUME_ARG]
    if not wanted:
        return args
    value = wanted[-1].split("=", 1)[1]
    if any(a in ("--multirun", "-m") for a in args):
        fail(
            f"{RESUME_ARG}: resumes one run directory, not a multirun; resume each job's directory separately"
        )
    run_dir = Path(value).expanduser().resolve()
    ckpt = run_dir / CKPT_SUBPATH
    if not run_dir.is_dir():
        fail(
            f"{RESUME_ARG}: {value} is not a directory; allowed: a run directory such as logs/train/runs/<run>"
        )
    if not ckpt.is_file():
        fail(
            f"{RESUME_ARG}: no checkpoint at {ckpt}; nothing to resume (start a new run without {RESUME_ARG}=)"
        )
    saved = _saved_overrides(run_dir)
    extra = [a for a in args if a.split("=", 1)[0] != RESUME_ARG]
    typed_keys = {_key(a) for a in extra if not a.startswith("-")}
    kept = [o for o in saved if _key(o) not in _REPLACED_KEYS and _key(o) not in typed_keys]
    return [*kept, *extra, f"hydra.run.dir={_quote(str(run_dir))}", f"ckpt_path={_quote(str(ckpt))}"]


def _quote(path: str) -> str:
    return f"'{path}'" if any(c in path for c in " ,:=[]{}()'\"\\$") else path


def _saved_overrides(run_dir: Path) -> list[str]:
    import yaml

    path = run_dir / ".hydra" / "overrides.yaml"
    if not path.is_file():
        fail(f"{RESUME_ARG}: {path} is missing; the run directory must be one written by `make train`")
    loaded = yaml.safe_load(path.read_text()) or []
    return [str(o) for o in loaded]


def auto_resume_path(run_dir: str | Path, ckpt_path: Any, overrides: list[str] | None = None) -> str | None:
    """The checkpoint a requeued SLURM job continues from: ``last.ckpt`` of its own run directory.

    Only a directory that belongs to this very job and command is continued: the one
    ``slurm_run_dir_arguments`` named after the job and ``overrides`` (by default the task overrides
    Hydra recorded), or a multirun job's directory (a launcher such as submitit requeues the same job
    into it). Any other directory, e.g. one given as ``hydra.run.dir``, starts afresh: continue it
    with ``resume=<run dir>``.
    """
    if ckpt_path or not os.environ.get("SLURM_JOB_ID"):
        return ckpt_path or None
    if not _own_slurm_directory(Path(run_dir), overrides):
        return None
    candidate = Path(run_dir) / CKPT_SUBPATH
    return str(candidate) if candidate.is_file() else None


def _own_slurm_directory(run_dir: Path, overrides: list[str] | None) -> bool:
    from lightning_hydra_template.distributed.slurm import slurm_run_name

    if overrides is None:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        if not HydraConfig.initialized():
            return False
        hydra_cfg = HydraConfig.get()
        if hydra_cfg.mode == RunMode.MULTIRUN:
            return True
        overrides = [str(o) for o in hydra_cfg.overrides.task]
    return run_dir.name == slurm_run_name(overrides)


def check_resume_checkpoint(path: str | Path, model: Any) -> dict[str, Any]:
    """Refuse, with one line, a checkpoint that is missing, corrupt, unsafe, or of another model."""
    from lightning_hydra_template.runs.checkpoint import CONFIG_KEY, load_checkpoint

    if not Path(path).is_file():
        raise ConfigError(
            "ckpt_path", f"no checkpoint file at {path}; allowed: a .ckpt file written by a run"
        )
    checkpoint = load_checkpoint(path)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    found = {k: tuple(getattr(v, "shape", ())) for k, v in checkpoint["state_dict"].items()}
    stored_target = (checkpoint.get(CONFIG_KEY) or {}).get("model", {}).get("_target_")
    own_target = f"{type(model).__module__}.{type(model).__qualname__}"
    if stored_target and stored_target != own_target:
        raise UserError(
            f"ckpt_path: {path} was written for {stored_target}, this run builds {own_target}; "
            "resume it with the config it was trained with (make train resume=<its run dir>)"
        )
    if found != expected:
        missing = sorted(set(expected) - set(found))
        unexpected = sorted(set(found) - set(expected))
        shapes = sorted(k for k in set(found) & set(expected) if found[k] != expected[k])
        detail = (
            f"missing {missing[:3]}" if missing else f"unexpected {unexpected[:3]}" if unexpected else ""
        ) or f"shape of {shapes[0]} is {found[shapes[0]]}, this model has {expected[shapes[0]]}"
        raise UserError(
            f"ckpt_path: {path} holds another network ({detail}); "
            "resume it with the config it was trained with (make train resume=<its run dir>)"
        )
    return checkpoint
