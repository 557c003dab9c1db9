"""Data and model agree by construction: the model's data-dependent settings come from the datamodule.

A datamodule says what it serves through attributes that are set after ``setup``:
``num_classes``, ``class_names`` and ``input_shape`` (one sample's shape, e.g. ``(3, 64, 64)`` or
``(10,)``). Each model setting below that is null in the config is filled from them; one that is set
and contradicts them stops the run with one line, before anything is built. A datamodule that says
nothing leaves the settings as configured.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from omegaconf import DictConfig, OmegaConf

from lightning_hydra_template.config.errors import ConfigError

_ABSENT = object()


def _num_classes(datamodule: Any) -> int | None:
    number = getattr(datamodule, "num_classes", None)
    if number is None and getattr(datamodule, "class_names", None):
        number = len(datamodule.class_names)
    return int(number) if number is not None else None


def _class_names(datamodule: Any) -> list[str] | None:
    names = getattr(datamodule, "class_names", None)
    return [str(n) for n in names] if names else None


def _shape(datamodule: Any) -> tuple[int, ...] | None:
    shape = getattr(datamodule, "input_shape", None)
    return tuple(int(s) for s in shape) if shape else None


def _in_channels(datamodule: Any) -> int | None:
    shape = _shape(datamodule)
    return shape[0] if shape and len(shape) == 3 else None


def _in_features(datamodule: Any) -> int | None:
    shape = _shape(datamodule)
    return math.prod(shape) if shape else None


# (config field, what the data says, how to say it in an error)
FROM_DATA: list[tuple[str, Callable[[Any], Any], str]] = [
    ("model.num_classes", _num_classes, "classes"),
    ("model.class_names", _class_names, "class names"),
    ("model.net.in_channels", _in_channels, "input channels"),
    ("model.net.in_features", _in_features, "input features per sample"),
]
# Settings a model cannot be built without; class names are optional labels.
REQUIRED = {"model.num_classes", "model.net.in_channels", "model.net.in_features"}


def fill_model_from_data(cfg: DictConfig, datamodule: Any) -> dict[str, Any]:
    """Set the null data-dependent model settings of ``cfg`` from ``datamodule`` (set up already);
    returns what was filled. Raises :class:`ConfigError` for a set value the data contradicts."""
    filled: dict[str, Any] = {}
    source = type(datamodule).__name__
    for field, read, what in FROM_DATA:
        value = OmegaConf.select(cfg, field, default=_ABSENT)
        if value is _ABSENT:
            continue  # this model has no such setting
        if isinstance(value, DictConfig) or OmegaConf.is_list(value):
            value = OmegaConf.to_container(value, resolve=True)
        fact = read(datamodule)
        if value is None:
            if fact is None:
                if field in REQUIRED:
                    raise ConfigError(
                        field,
                        f"not set, and {source} does not say (no num_classes / input_shape attribute after "
                        f"setup); allowed: a value, e.g. {field}=...",
                    )
                continue
            OmegaConf.update(cfg, field, fact, merge=False)
            filled[field] = fact
        elif fact is not None and _differs(value, fact):
            raise ConfigError(
                field,
                f"got {value!r}, but {source} serves {fact!r} {what}; allowed: {fact!r}, "
                "or null to take it from the data",
            )
    _check_names_count(cfg)
    return filled


def _differs(value: Any, fact: Any) -> bool:
    if isinstance(fact, list):
        return not isinstance(value, Sequence) or [str(v) for v in value] != fact
    return value != fact


def _check_names_count(cfg: DictConfig) -> None:
    names = OmegaConf.select(cfg, "model.class_names", default=None)
    number = OmegaConf.select(cfg, "model.num_classes", default=None)
    if names is not None and number is not None and len(names) != number:
        raise ConfigError(
            "model.class_names", f"{len(names)} names for {number} classes; allowed: one name per class"
        )


def build_model(cfg: DictConfig, datamodule: Any) -> Any:
    """The LightningModule of ``cfg``, its data-dependent settings taken from ``datamodule``."""
    from hydra.utils import instantiate

    fill_model_from_data(cfg, datamodule)
    return instantiate(
        cfg.model, optimizer=cfg.optimizer, scheduler=cfg.get("scheduler") or None, _recursive_=False
    )
