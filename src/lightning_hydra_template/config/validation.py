"""Early, typed checks of a composed config: each failure names the field and what is allowed.

Checks skip fields a config does not have, so they serve every task's config. This module knows only
the generic fields (seed, monitor, optimizer, scheduler, trainer, callbacks, paths); the classes named by
``data._target_`` and ``model._target_`` check their own fields in a ``check_config`` classmethod.
"""

from __future__ import annotations

import os
import re
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, NamedTuple

from omegaconf import DictConfig, OmegaConf, open_dict

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


# what check_fields takes: a Check, or a plain (field, ok, allowed, nullable) tuple
Rule = tuple[str, Callable[[Any], bool], str, bool]

# for the components' check_config hooks
is_int = _is_int
is_number = _is_number


CHECKS: list[Rule] = [
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


def check_fields(cfg: DictConfig, checks: Iterable[Rule]) -> None:
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
    validate_values(cfg)
    check_components(cfg)
    if OmegaConf.select(cfg, "logger.mlflow", default=None) is not None:
        require_mlflow()


MLFLOW_INSTALL = "uv sync --group tracking (or pip install mlflow)"


def require_mlflow() -> None:
    """``logger=mlflow`` without the package: one line, before anything is written."""
    import importlib.util

    if importlib.util.find_spec("mlflow") is None:
        raise ConfigError(
            "logger.mlflow",
            f"the mlflow package is not installed; allowed: install it with {MLFLOW_INSTALL}, "
            "or logger=csv, tensorboard or wandb",
        )


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


def check_writable(
    directory: str | Path, field: str = "paths.log_dir", hint: str = "set paths.log_dir=... or LHT_LOG_DIR"
) -> None:
    """The run directory will be created under ``directory``: it must be creatable and writable.

    The first existing ancestor decides. Permission bits do not tell the whole truth (root passes them on
    /proc and read-only mounts), so a passing ancestor is also tried with a directory made and removed at once.
    """
    path = Path(directory).expanduser().absolute()
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    why = ""
    if not probe.is_dir():
        why = "is not a directory" if probe.exists() else "does not exist"
    elif not os.access(probe, os.W_OK | os.X_OK) or not _can_create_in(probe):
        why = "is not writable"
    if why:
        raise ConfigError(
            field,
            f"cannot write run directories under {path}: {probe} {why}; allowed: a writable directory ({hint})",
        )


def _can_create_in(directory: Path) -> bool:
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".lht-write-test-", dir=directory))
    except OSError:
        return False
    return True


# --- Switches, callbacks, trainer flags, scheduler arguments, checkpoint files, output directories -------
# Values that would otherwise be accepted and fail (or misbehave) only at run time.


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool)


def _int_at_least(low: int) -> Callable[[Any], bool]:
    return lambda v: _is_int(v) and v >= low


def _share_or_count(value: Any) -> bool:
    return (_is_int(value) and value >= 0) or (isinstance(value, float) and 0 <= value <= 1)


# On/off switches: true or false, nothing else ("maybe", "yes" or 1 would be taken as true or crash later).
SWITCHES = (
    "extras.print_config",
    "extras.ignore_warnings",
    "data.scale_features",
    "data.scale_targets",
    "model.loss.include_background",
    "model.loss.ignore_empty",
    "optimizer.nesterov",
    "trainer.enable_model_summary",
    "trainer.sync_batchnorm",
    "trainer.strategy.broadcast_buffers",
    "callbacks.model_checkpoint.auto_insert_metric_name",
    "callbacks.model_checkpoint.enable_version_counter",
    "callbacks.plots.enabled",
    "logger.tensorboard.default_hp_metric",
    "logger.mlflow.log_model",
    "hydra.callbacks.sweep_report.enabled",
    "hydra.callbacks.sweep_report.continue_on_failure",
)
BATCH_SHARE = "an integer >= 0 (batches) or a number in [0, 1] (share of the split)"

VALUE_CHECKS: list[Rule] = [
    *((field, _is_bool, "true or false", False) for field in SWITCHES),
    ("trainer.benchmark", _is_bool, "true or false (or null)", True),
    ("trainer.deterministic", lambda v: _is_bool(v) or v == "warn", "true, false or warn", True),
    (
        "trainer.fast_dev_run",
        lambda v: _is_bool(v) or (_is_int(v) and v >= 0),
        "true, false, or an integer >= 0 (batches)",
        False,
    ),
    ("trainer.num_nodes", _int_at_least(1), "an integer >= 1", False),
    ("trainer.num_sanity_val_steps", _int_at_least(-1), "an integer >= 0, or -1 for all", False),
    ("trainer.limit_train_batches", _share_or_count, BATCH_SHARE, True),
    ("trainer.limit_val_batches", _share_or_count, BATCH_SHARE, True),
    ("trainer.limit_test_batches", _share_or_count, BATCH_SHARE, True),
    ("trainer.overfit_batches", _share_or_count, BATCH_SHARE, False),
    (
        "model.compile",
        lambda v: _is_bool(v) or isinstance(v, dict),
        "true, false, or a mapping of torch.compile options",
        False,
    ),
    ("callbacks.early_stopping.patience", _int_at_least(0), "an integer >= 0 (validations)", False),
    ("callbacks.early_stopping.min_delta", lambda v: _is_number(v) and v >= 0, "a number >= 0", False),
    ("callbacks.model_checkpoint.save_top_k", _int_at_least(-1), "an integer >= 0, or -1 to keep all", False),
    (
        "callbacks.model_checkpoint.save_last",
        lambda v: _is_bool(v) or v == "link",
        "true, false or link (or null)",
        True,
    ),
    ("callbacks.model_checkpoint.every_n_epochs", _int_at_least(0), "an integer >= 0 (or null)", True),
    ("callbacks.step_checkpoint.every_n_steps", _int_at_least(1), "an integer >= 1 (optimizer steps)", False),
    (
        "callbacks.step_checkpoint.filename",
        lambda v: isinstance(v, str) and v.strip() != "",
        "a file name such as last.ckpt (may use {step} and {epoch})",
        False,
    ),
    ("callbacks.progress_bar.style", lambda v: v in ("auto", "rich", "lines"), "auto, rich or lines", False),
    (
        "callbacks.progress_bar.min_interval",
        lambda v: _is_number(v) and v >= 0,
        "a number >= 0 (seconds)",
        False,
    ),
    (
        "callbacks.lr_monitor.logging_interval",
        lambda v: v in ("epoch", "step"),
        "epoch or step (or null: as the scheduler steps)",
        True,
    ),
    ("callbacks.model_summary.max_depth", _int_at_least(-1), "an integer >= 0, or -1 for all layers", False),
    ("logger.wandb.log_model", lambda v: _is_bool(v) or v == "all", "true, false or all", False),
]

_POSITIVE = (lambda v: _is_number(v) and v > 0, "a number > 0")
_NON_NEGATIVE = (lambda v: _is_number(v) and v >= 0, "a number >= 0")
# Constructor arguments per scheduler class (scheduler._target_'s last part): (argument, predicate, allowed).
SCHEDULER_ARGUMENTS: dict[str, list[tuple[str, Callable[[Any], bool], str]]] = {
    "CosineAnnealingLR": [
        ("T_max", _int_at_least(1), "an integer >= 1 (epochs, or optimizer steps with interval=step)"),
        ("eta_min", *_NON_NEGATIVE),
    ],
    "StepLR": [
        ("step_size", _int_at_least(1), "an integer >= 1 (epochs between decays)"),
        ("gamma", *_POSITIVE),
    ],
    "MultiStepLR": [("gamma", *_POSITIVE)],
    "ExponentialLR": [("gamma", *_POSITIVE)],
    "ReduceLROnPlateau": [
        ("factor", lambda v: _is_number(v) and 0 < v < 1, "a number between 0 and 1 (exclusive)"),
        ("patience", _int_at_least(0), "an integer >= 0 (epochs without improvement)"),
        ("cooldown", _int_at_least(0), "an integer >= 0"),
        ("threshold", *_NON_NEGATIVE),
        ("threshold_mode", lambda v: v in ("rel", "abs"), "rel or abs"),
        ("min_lr", *_NON_NEGATIVE),
        ("eps", *_NON_NEGATIVE),
    ],
}


def _run_checks(cfg: DictConfig, checks: Iterable[Rule]) -> None:
    for field, ok, allowed, nullable in checks:
        try:
            value = _get(cfg, field)
        except Exception:  # an interpolation that cannot resolve yet (e.g. ${hydra:...} outside a run)
            continue
        if value is _ABSENT or (value is None and nullable):
            continue
        if value is None or not ok(value):
            raise ConfigError(field, f"got {value!r}; allowed: {allowed}")


def _check_scheduler_arguments(cfg: DictConfig) -> None:
    target = OmegaConf.select(cfg, "scheduler._target_", default=None)
    if not isinstance(target, str):
        return
    arguments = SCHEDULER_ARGUMENTS.get(target.rsplit(".", 1)[-1], [])
    checks = [(f"scheduler.{name}", ok, allowed, False) for name, ok, allowed in arguments]
    checks.append(("scheduler.frequency", _int_at_least(1), "an integer >= 1", False))
    _run_checks(cfg, checks)


def checkpoint_file_problem(path: str | Path) -> str | None:
    """What is wrong with a checkpoint file, seen from its bytes without unpickling anything; None if
    nothing is. ``torch.save`` writes a zip archive with a ``data.pkl`` (the legacy format: a bare pickle)."""
    path = Path(path)
    try:
        with path.open("rb") as file:
            head = file.read(4)
    except OSError as err:
        return f"cannot be read ({err.strerror})"
    if not head:
        return "is empty (0 bytes), not a checkpoint"
    if head.startswith(b"\x80"):  # the legacy format; torch.load has the final word
        return None
    if head != b"PK\x03\x04":
        return "is not a PyTorch checkpoint (written by torch.save / a training run)"
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return "is not a readable checkpoint (truncated or corrupt?)"
    if not any(name == "data.pkl" or name.endswith("/data.pkl") for name in names):
        return "is a zip archive, not a PyTorch checkpoint"
    return None


EXPORTED_SUFFIXES = (".onnx", ".pt2")  # `make serve` also takes exported models; their loader checks them


def _check_checkpoint_file(cfg: DictConfig) -> None:
    path = OmegaConf.select(cfg, "ckpt_path", default=None, throw_on_missing=False)
    if not isinstance(path, str) or not path or Path(path).suffix in EXPORTED_SUFFIXES:
        return
    if Path(path).is_file() and (problem := checkpoint_file_problem(path)):
        raise ConfigError("ckpt_path", f"{path} {problem}; allowed: a .ckpt file written by a training run")


def validate_values(cfg: DictConfig) -> None:
    """Switches, callback and trainer values, scheduler arguments, and the checkpoint file's bytes."""
    _run_checks(cfg, VALUE_CHECKS)
    _check_scheduler_arguments(cfg)
    _check_checkpoint_file(cfg)


_PROBE_KEY = "_lht_dir_prefix"  # a scratch key: resolves a prefix against the config
_RESOLVER_CALL = re.compile(r"\$\{\s*([\w.-]+)\s*:")


def _path_parts(template: str) -> list[str]:
    """``template`` split at the slashes outside ``${...}``."""
    parts, depth, current = [], 0, ""
    for i, char in enumerate(template):
        if template.startswith("${", i):
            depth += 1
        elif char == "}" and depth:
            depth -= 1
        if char == "/" and not depth:
            parts.append(current)
            current = ""
        else:
            current += char
    return [*parts, current]


def static_dir_prefix(cfg: DictConfig, field: str) -> str | None:
    """The leading part of the directory template at ``field`` that does not depend on when or where the
    run starts: cut at the first part calling a resolver other than ``oc.*`` (``${now:...}``, a run id,
    ``${hydra:...}``), the rest resolved. None if even that cannot be resolved here."""
    node = OmegaConf.select(cfg, field.rsplit(".", 1)[0], default=None)
    if not isinstance(node, DictConfig):
        return None
    container = OmegaConf.to_container(node, resolve=False)
    assert isinstance(container, dict)  # node is a DictConfig
    template = container.get(field.rsplit(".", 1)[-1])
    if not isinstance(template, str) or not template:
        return None
    kept = []
    for part in _path_parts(template):
        if any(not name.startswith("oc.") for name in _RESOLVER_CALL.findall(part)):
            break
        kept.append(part)
    prefix = "/".join(kept) or ("/" if kept else ".")
    try:
        with open_dict(cfg):
            cfg[_PROBE_KEY] = prefix
        return str(cfg[_PROBE_KEY])
    except Exception:  # an interpolation only a running Hydra can resolve
        return None
    finally:
        with open_dict(cfg):
            cfg.pop(_PROBE_KEY, None)


def check_output_dir(cfg: DictConfig, multirun: bool = False) -> None:
    """Hydra's run (or sweep) directory, however it is set, can be created: checked before Hydra makes it."""
    field = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    prefix = static_dir_prefix(cfg, field)
    if prefix is not None:
        check_writable(prefix, field, f"set {field}=... or paths.log_dir=...")


def validate_sweep(cfg: DictConfig) -> None:
    """What a multirun's primary config (the overrides that are not sweeps) can tell before Hydra starts
    the sweep: its directory and the sweep callbacks' switches. Job values are checked in each job."""
    _run_checks(cfg, [check for check in VALUE_CHECKS if check[0].startswith("hydra.")])
    check_output_dir(cfg, multirun=True)
