"""Resuming: ``resume=<run dir>`` on the command line, and checks of a checkpoint before fitting from it.

Nothing here imports torch at module level: the command-line part runs before Hydra.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, cast

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
    A directory without ``checkpoints/last.ckpt``, or overrides that would change the learning-rate
    schedule the run was trained with, end the program with one line; nothing is created or rewritten.
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
    resumed = [*kept, *extra, f"hydra.run.dir={_quote(str(run_dir))}", f"ckpt_path={_quote(str(ckpt))}"]
    new_run = " ".join([*kept, *(a for a in extra if not a.startswith("-"))])
    _check_schedule_before_hydra(resumed, ckpt, new_run)
    return resumed


def _quote(path: str) -> str:
    return f"'{path}'" if any(c in path for c in " ,:=[]{}()'\"\\$") else path


def _saved_overrides(run_dir: Path) -> list[str]:
    import yaml

    path = run_dir / ".hydra" / "overrides.yaml"
    if not path.is_file():
        fail(f"{RESUME_ARG}: {path} is missing; the run directory must be one written by `make train`")
    loaded = yaml.safe_load(path.read_text()) or []
    return [str(o) for o in loaded]


def _check_schedule_before_hydra(args: list[str], ckpt: Path, new_run: str) -> None:
    """Refuse, before Hydra rewrites the run directory's ``.hydra`` files, a resume that changes the schedule."""
    saved = _saved_scheduler(ckpt)
    if not saved:
        return
    from lightning_hydra_template.config.compose import compose_run_config

    try:
        cfg = compose_run_config(args)
    except Exception:  # a bad override: the override check that follows reports it in one line
        return
    if problem := schedule_change(saved, cfg):
        fail(f"{problem}, or a new run: make train {new_run}".rstrip())


def _saved_scheduler(ckpt: Path) -> dict[str, Any] | None:
    import torch

    try:  # memory-mapped: only the hyperparameters are read here
        checkpoint = torch.load(ckpt, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # unreadable: check_resume_checkpoint says why, in one line, before fitting
        return None
    scheduler = (
        (checkpoint.get("hyper_parameters") or {}).get("scheduler") if isinstance(checkpoint, dict) else None
    )
    return scheduler if isinstance(scheduler, dict) else None


def schedule_change(saved: dict[str, Any] | None, cfg: Any) -> str | None:
    """Why resuming a checkpoint trained with the scheduler config ``saved`` under ``cfg`` is refused, or None.

    Lightning restores the scheduler's saved state over the one the new config builds, so changed
    arguments would be silently ignored; an epoch-based schedule such as the baseline's cosine over
    ``trainer.max_epochs`` would also run past its end, where the learning rate rises again. Dropping
    the scheduler (``scheduler=none``) is not refused: training then goes on at the last learning rate.
    """
    from omegaconf import OmegaConf

    from lightning_hydra_template.config.plain import to_plain

    node = cfg.get("scheduler")
    new = to_plain(node) or None
    if not saved or not new or new == saved:
        return None
    key = next(k for k in sorted(set(saved) | set(new)) if saved.get(k) != new.get(k))
    raw: Any = (
        cast(dict[str, Any], OmegaConf.to_container(node, resolve=False)).get(key) if key in node else None
    )
    # the value the user sets, when the argument follows one: T_max: ${trainer.max_epochs}
    plain_reference = isinstance(raw, str) and re.fullmatch(r"\$\{[\w.]+\}", raw)
    source = (
        raw[2:-1] if plain_reference and OmegaConf.select(cfg, raw[2:-1], default=None) is not None else None
    )
    field = source or f"scheduler.{key}"
    old, wanted = saved.get(key), new.get(key)
    longer_cosine = (
        key == "T_max"
        and "CosineAnnealing" in str(saved.get("_target_", ""))
        and isinstance(old, (int, float))
        and isinstance(wanted, (int, float))
        and wanted > old
    )
    why = (
        "past its end the learning rate would rise again"
        if longer_cosine
        else f"the checkpoint's scheduler state would replace {wanted}"
    )
    built = f"{field}={old}" + (f" (scheduler.{key})" if source else "")
    return (
        f"{field}: a resumed run keeps the learning-rate schedule it was trained with, built for {built}; "
        f"{why}; allowed: {field}={old} to resume"
    )


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


def check_resume_checkpoint(path: str | Path, model: Any, cfg: Any = None) -> dict[str, Any]:
    """Refuse, with one line, a checkpoint that is missing, corrupt, unsafe, or of another model; with the
    run's ``cfg`` (when it trains from the checkpoint), also one whose learning-rate schedule ``cfg`` changes."""
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
    if cfg is not None and (
        problem := schedule_change(checkpoint.get("hyper_parameters", {}).get("scheduler"), cfg)
    ):
        raise UserError(problem)
    return checkpoint
