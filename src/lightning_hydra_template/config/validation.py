"""Early, typed checks of a composed config: each failure names the field and what is allowed.

Checks skip fields a config does not have, so they serve every task's config.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from lightning_hydra_template.config.errors import ConfigError

_ABSENT = object()

PRECISIONS = ("64-true", "32-true", "16-mixed", "bf16-mixed", "16-true", "bf16-true", "transformer-engine")
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps", "tpu")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


Check = tuple[str, Callable[[Any], bool], str, bool]  # (field, predicate, what is allowed, nullable)

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
    (
        "data.batch_size",
        lambda v: (_is_int(v) and v >= 1) or v == "full",
        'an integer >= 1, or "full" for the whole training split',
        False,
    ),
    ("data.eval_batch_size", lambda v: _is_int(v) and v >= 1, "an integer >= 1 (or null)", True),
    (
        "data.val_fraction",
        lambda v: _is_number(v) and 0 < v < 1,
        "a number between 0 and 1 (exclusive)",
        False,
    ),
    ("data.test_fraction", lambda v: _is_number(v) and 0 <= v < 1, "a number in [0, 1)", False),
    ("data.drop_last", lambda v: isinstance(v, bool), "true or false", False),
    ("data.shuffle", lambda v: isinstance(v, bool), "true or false", False),
    ("data.on_device", lambda v: v in (True, False, "auto"), "auto, true or false", True),
    ("model.channels_last", lambda v: isinstance(v, bool), "true or false", True),
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
    ("data.num_samples", lambda v: _is_int(v) and v >= 10, "an integer >= 10", False),
    ("data.image_size", lambda v: _is_int(v) and v >= 8, "an integer >= 8", False),
    ("data.min_shapes", lambda v: _is_int(v) and v >= 1, "an integer >= 1", False),
    ("data.min_radius", lambda v: _is_int(v) and v >= 1, "an integer >= 1", False),
    ("data.noise", lambda v: _is_number(v) and v >= 0, "a number >= 0", False),
    ("model.loss.ce_weight", lambda v: _is_number(v) and v >= 0, "a number >= 0", False),
    ("model.loss.dice_weight", lambda v: _is_number(v) and v >= 0, "a number >= 0", False),
    ("model.loss.smooth", lambda v: _is_number(v) and v >= 0, "a number >= 0", False),
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


def validate_config(cfg: DictConfig) -> None:
    """Raise :class:`ConfigError` for the first field that is not allowed."""
    for field, ok, allowed, nullable in CHECKS:
        try:
            value = _get(cfg, field)
        except Exception:  # an interpolation that cannot resolve yet (e.g. ${hydra:...} outside a run)
            continue
        if value is _ABSENT or (value is None and nullable):
            continue
        if value is None or not ok(value):
            raise ConfigError(field, f"got {value!r}; allowed: {allowed}")
    _check_split_fractions(cfg)
    _check_scheduler(cfg)
    _check_checkpoint_path(cfg)
    _check_shapes(cfg)


def _check_checkpoint_path(cfg: DictConfig) -> None:
    if OmegaConf.is_missing(cfg, "ckpt_path"):
        raise ConfigError(
            "ckpt_path",
            "required: the checkpoint to use, e.g. ckpt_path=logs/train/runs/<run>/checkpoints/last.ckpt",
        )
    path = OmegaConf.select(cfg, "ckpt_path", default=None, throw_on_missing=False)
    if isinstance(path, str) and path and not Path(path).is_file():
        raise ConfigError("ckpt_path", f"no checkpoint file at {path}")


def _check_split_fractions(cfg: DictConfig) -> None:
    val = OmegaConf.select(cfg, "data.val_fraction", default=None)
    test = OmegaConf.select(cfg, "data.test_fraction", default=None)
    if _is_number(val) and _is_number(test) and val + test >= 1:
        raise ConfigError(
            "data.val_fraction",
            f"val_fraction {val} + test_fraction {test} = {val + test:g} leaves no training data; their sum must be < 1",
        )


def _check_scheduler(cfg: DictConfig) -> None:
    interval = OmegaConf.select(cfg, "scheduler.interval", default=None)
    if interval is not None and interval not in ("epoch", "step"):
        raise ConfigError("scheduler.interval", f"got {interval!r}; allowed: epoch, step")


def _check_shapes(cfg: DictConfig) -> None:
    """Generated-shapes data: sizes that fit the image and the U-Net's downsampling."""
    size = OmegaConf.select(cfg, "data.image_size", default=None)
    if not _is_int(size):
        return
    sel = lambda field: OmegaConf.select(cfg, field, default=None)  # noqa: E731
    low, high = sel("data.min_shapes"), sel("data.max_shapes")
    if _is_int(low) and _is_int(high) and high < low:
        raise ConfigError("data.max_shapes", f"got {high}; allowed: an integer >= data.min_shapes ({low})")
    low, high = sel("data.min_radius"), sel("data.max_radius")
    if _is_int(low) and _is_int(high) and not (low <= high and 2 * high + 2 < size):
        raise ConfigError(
            "data.max_radius",
            f"got {high}; allowed: an integer >= data.min_radius ({low}) with 2 * max_radius + 2 < image_size ({size})",
        )
    channels = sel("model.net.channels")
    if channels is not None and len(channels) >= 1:
        factor = 2 ** (len(channels) - 1)
        if size % factor:
            raise ConfigError(
                "data.image_size",
                f"got {size}; allowed: a multiple of {factor} (the U-Net has {len(channels)} levels)",
            )


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
