"""Composing the real configs outside the CLI (the benchmark runs the training path in-process)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from omegaconf import DictConfig, open_dict


def compose_run_config(overrides: Sequence[str], output_dir: Path, config_name: str = "train") -> DictConfig:
    """``configs/<config_name>.yaml`` with ``overrides``, as the CLI composes it, writing into ``output_dir``."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig

    from lightning_hydra_template.utils.entry import CONFIG_DIR
    from lightning_hydra_template.utils.resolvers import register_resolvers

    register_resolvers()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
            cfg = compose(config_name=config_name, overrides=list(overrides), return_hydra_config=True)
    finally:
        GlobalHydra.instance().clear()
    output_dir.mkdir(parents=True, exist_ok=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(output_dir)
        cfg.hydra.job.num = 0
        cfg.paths.output_dir = str(output_dir)
        cfg.paths.log_dir = str(output_dir.parent)
    HydraConfig().set_config(cfg)
    return cfg
