"""Building Lightning objects from config groups (callbacks, loggers, trainer)."""

from __future__ import annotations

from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig


def instantiate_group(group: DictConfig | None) -> list[Any]:
    """Instantiate every entry of a group like ``callbacks`` or ``logger`` that has a ``_target_``.

    Entries set to null (e.g. ``callbacks.early_stopping=null``) are skipped.
    """
    if not group:
        return []
    objects = []
    for name, node in group.items():
        if node is None:
            continue
        if not isinstance(node, DictConfig) or "_target_" not in node:
            raise TypeError(f"config entry {name!r} has no _target_ to instantiate")
        objects.append(instantiate(node, _convert_="all"))
    return objects
