"""Conversion of OmegaConf objects to plain containers (what checkpoints may hold)."""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf


def to_plain(value: Any) -> Any:
    """Resolved dicts/lists/scalars for OmegaConf nodes; anything else is returned unchanged."""
    if isinstance(value, (DictConfig, ListConfig)):
        return OmegaConf.to_container(value, resolve=True)
    return value
