"""Composing the real configs outside the CLI, as the CLI would (tests, benchmarks and search trials)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from omegaconf import DictConfig, open_dict

# configs/ at the top of a checkout (an editable install); inside the package once built into a wheel
# (pyproject.toml force-includes it there). More config directories: hydra.searchpath (docs/new_project.md).
_PACKAGED = Path(__file__).resolve().parents[1] / "configs"
CONFIG_DIR = _PACKAGED if _PACKAGED.is_dir() else Path(__file__).resolve().parents[3] / "configs"


def compose_run_config(
    overrides: Sequence[str],
    output_dir: Path | None = None,
    config_name: str = "train",
    *,
    job_num: int = 0,
    log_dir: Path | None = None,
) -> DictConfig:
    """``configs/<config_name>.yaml`` with ``overrides``; with ``output_dir``, set up as that run's directory
    (``paths.output_dir`` and Hydra's runtime config), and ``paths.log_dir`` moved to ``log_dir`` if given."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig

    from lightning_hydra_template.config.resolvers import register_resolvers

    register_resolvers()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
            cfg = compose(config_name=config_name, overrides=list(overrides), return_hydra_config=True)
    finally:
        GlobalHydra.instance().clear()
    if output_dir is None:
        return cfg
    output_dir.mkdir(parents=True, exist_ok=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(output_dir)
        cfg.hydra.run.dir = str(output_dir)  # resolving the config must not create a run directory
        cfg.hydra.job.num = job_num
        cfg.paths.output_dir = str(output_dir)
        if log_dir is not None:
            cfg.paths.log_dir = str(log_dir)
    HydraConfig().set_config(cfg)
    return cfg
