"""Early, typed checks of a composed config: each failure names the field and what is allowed.

Checks skip fields a config does not have, so they serve every task's config. This module knows only
the generic fields (seed, monitor, optimizer, scheduler, trainer, callbacks, paths); the classes named by
``data._target_`` and ``model._target_`` check their own fields in a ``check_config`` classmethod.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, NamedTuple

from omegaconf import DictConfig, OmegaConf

from lightning_hydra_template.config.errors import ConfigError

_ABSENT = object()

PRECISIONS = ("64-true", "32-true", "16-mixed", "bf16-mixed", "16-true", "bf16-true", "transformer-engine")
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps", "tpu")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class Check(NamedTuple):
    """A rule for one field: ``ok(value)`` must hold; ``allowed`` says what does; null passes when ``nullable``."""

    field: str
    ok: Callable[[Any], bool]
    allowed: str
    nullable: bool = False


# for the components' check_config hooks
is_int = _is_int
is_number = _is_number


CHECKS: list[Check] = [
    ("seed", lambda v: _is_int(v) and v >= 0, "an integer >= 0 (or null for no seeding)", True),
    ("deterministic", lambda v: isinstance(v, bool), "true or false", False),
    ("train", lambda v: isinstance(v, bool), "true or false", False),
    ("test", lambda v: isinstance(v, bool), "true or false", False),
    ("ckpt_path", lambda v: isinstance(v, str) and v != "", "a path to a .ckpt file (or null)", True),
    (
        "monitor.metric",
        lambda v: isinstance(v, str) and v.startswith("val/"),
        "a logged validation metric such as val/acc or val/loss",
        False,
    ),
    ("monitor.mode", lambda v: v in ("min", "max"), "min or max", False),
    ("optimizer.lr", lambda v: _is_number(v) and v > 0, "a number > 0", False),
    ("optimizer.weight_decay", lambda v: _is_number(v) and v >= 0, "a number >= 0", False),
    ("optimizer.momentum", lambda v: _is_number(v) and 0 <= v < 1, "a number in [0, 1)", False),
    ("trainer.max_epochs", lambda v: _is_int(v) and v >= 1, "an integer >= 1", False),
    ("trainer.min_epochs", lambda v: _is_int(v) and v >= 0, "an integer >= 0", True),
    (
        "trainer.max_steps",
        lambda v: _is_int(v) and (v == -1 or v >= 1),
        "an integer >= 1, or -1 for no limit",
        True,
    ),
    ("trainer.accumulate_grad_batches", lambda v: _is_int(v) and v >= 1, "an integer >= 1", False),
    ("trainer.check_val_every_n_epoch", lambda v: _is_int(v) and v >= 1, "an integer >= 1", True),
    ("trainer.log_every_n_steps", lambda v: _is_int(v) and v >= 1, "an integer >= 1", False),
    (
        "trainer.gradient_clip_val",
        lambda v: _is_number(v) and v > 0,
        "a number > 0 (or null for no clipping)",
        True,
    ),
    ("extras.plots", lambda v: isinstance(v, bool), "true or false", False),
    (
        "callbacks.plots.every_n_epochs",
        lambda v: _is_int(v) and v >= 0,
        "an integer >= 0 (0 = only at the end)",
        False,
    ),
    ("callbacks.plots.num_images", lambda v: _is_int(v) and v >= 1, "an integer >= 1", False),
    ("trainer.precision", lambda v: str(v) in PRECISIONS, ", ".join(PRECISIONS), False),
    ("trainer.accelerator", lambda v: v in ACCELERATORS, ", ".join(ACCELERATORS), False),
    (
        "trainer.devices",
        lambda v: (_is_int(v) and (v >= 1 or v == -1)) or v == "auto" or isinstance(v, list),
        "an integer >= 1, -1 (all), auto, or a list of device indices",
        False,
    ),
]


def _get(cfg: DictConfig, field: str) -> Any:
    value = OmegaConf.select(cfg, field, default=_ABSENT, throw_on_missing=False)
    if isinstance(value, (DictConfig,)):
        return OmegaConf.to_container(value, resolve=True)
    return value


def check_fields(cfg: DictConfig, checks: Iterable[tuple[str, Callable[[Any], bool], str, bool]]) -> None:
    """Raise :class:`ConfigError` for the first of ``checks`` whose field ``cfg`` has and does not allow."""
    for field, ok, allowed, nullable in checks:
        try:
            value = _get(cfg, field)
        except Exception:  # an interpolation that cannot resolve yet (e.g. ${hydra:...} outside a run)
            continue
        if value is _ABSENT or (value is None and nullable):
            continue
        if value is None or not ok(value):
            raise ConfigError(field, f"got {value!r}; allowed: {allowed}")


def validate_config(cfg: DictConfig) -> None:
    """Raise :class:`ConfigError` for the first field that is not allowed: generic fields first (no
    heavy import), then the data and model classes' own ``check_config``."""
    check_fields(cfg, CHECKS)
    _check_scheduler(cfg)
    _check_checkpoint_path(cfg)
    check_components(cfg)


COMPONENTS = ("data", "model")  # config sections whose ``_target_`` class may check the config


def check_components(cfg: DictConfig) -> None:
    """Call ``check_config(cfg)`` of the classes named by ``data._target_`` and ``model._target_``.

    The hook gets the whole config (a model may check a data field it depends on) and raises
    :class:`ConfigError`. A class without the hook, e.g. a plain ``LightningDataModule``, is not checked.
    """
    from hydra.utils import get_object

    for section in COMPONENTS:
        target = OmegaConf.select(cfg, f"{section}._target_", default=None, throw_on_missing=False)
        if not isinstance(target, str):
            continue
        try:
            component = get_object(target)
        except Exception as err:
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise ConfigError(
                f"{section}._target_", f"cannot import {target!r} ({reason}); allowed: an importable class"
            ) from err
        hook = getattr(component, "check_config", None)
        if callable(hook):
            hook(cfg)


def _check_checkpoint_path(cfg: DictConfig) -> None:
    if OmegaConf.is_missing(cfg, "ckpt_path"):
        raise ConfigError(
            "ckpt_path",
            "required: the checkpoint to use, e.g. ckpt_path=logs/train/runs/<run>/checkpoints/last.ckpt",
        )
    path = OmegaConf.select(cfg, "ckpt_path", default=None, throw_on_missing=False)
    if isinstance(path, str) and path and not Path(path).is_file():
        raise ConfigError("ckpt_path", f"no checkpoint file at {path}")


def _check_scheduler(cfg: DictConfig) -> None:
    interval = OmegaConf.select(cfg, "scheduler.interval", default=None)
    if interval is not None and interval not in ("epoch", "step"):
        raise ConfigError("scheduler.interval", f"got {interval!r}; allowed: epoch, step")


def check_writable(directory: str | Path, field: str = "paths.log_dir") -> None:
    """The run directory will be created under ``directory``: it must be creatable and writable."""
    path = Path(directory).expanduser().absolute()
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        why = "is not a directory" if probe.exists() and not probe.is_dir() else "is not writable"
        raise ConfigError(
            field,
            f"cannot write run directories under {path}: {probe} {why}; "
            "allowed: a writable directory (set paths.log_dir=... or LHT_LOG_DIR)",
        )
