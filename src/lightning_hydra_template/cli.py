"""What every entry point shares: Hydra's main with early override checks and one-line errors."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from lightning_hydra_template.config.compose import CONFIG_DIR
from lightning_hydra_template.config.errors import user_errors
from lightning_hydra_template.config.overrides import (
    INFO_FLAGS,
    MULTIRUN_FLAGS,
    check_overrides,
    make_overrides,
)
from lightning_hydra_template.config.resolvers import register_resolvers, start_new_run
from lightning_hydra_template.config.secrets import (
    load_dotenv,
    mask_log_handlers,
    redact_files,
    register_config_secrets,
    register_override_secrets,
)
from lightning_hydra_template.distributed.slurm import slurm_run_dir_arguments
from lightning_hydra_template.runs.provenance import remember_command_line
from lightning_hydra_template.runs.resume import resume_arguments
from lightning_hydra_template.utils.collection import collection_paused, freeze_start_up


def hydra_entry(config_name: str, task: Callable[[DictConfig], Any]) -> Callable[[], Any]:
    """A console-script ``main`` that checks overrides early, then runs ``task`` under Hydra."""
    import hydra

    def task_with_clean_errors(cfg: DictConfig) -> Any:
        from lightning_hydra_template.distributed.sweep import in_multirun, run_sweep_job

        freeze_start_up()  # torch and Lightning are imported by now (the checks and Hydra's set-up)
        mask_saved_configs(cfg)
        warn_unused_local(cfg)
        if in_multirun():  # a failed job is recorded and the sweep goes on (distributed/sweep.py)
            return run_sweep_job(task, cfg)
        with user_errors():
            return task(cfg)

    hydra_main = hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name=config_name)(
        task_with_clean_errors
    )

    def main() -> Any:
        with collection_paused():
            return checked_main()

    def checked_main() -> Any:
        start_new_run()
        register_resolvers()
        typed, made = list(sys.argv), make_overrides()
        remember_command_line(typed, made)
        sys.argv[1:] = made + sys.argv[1:]
        load_dotenv()  # secrets in ./.env reach the environment, and are masked like any other
        if config_name == "train":
            sys.argv[1:] = slurm_run_dir_arguments(resume_arguments(sys.argv[1:]))
        args = sys.argv[1:]
        register_override_secrets(args)
        if not any(a in INFO_FLAGS or a.split("=")[0] in INFO_FLAGS for a in args):
            multirun = any(a in MULTIRUN_FLAGS for a in args)
            check_overrides(config_name, [a for a in args if not a.startswith("-")], multirun=multirun)
        return hydra_main()

    return main


def mask_saved_configs(cfg: DictConfig) -> None:
    """Mask secrets in the files Hydra wrote before the task starts: the job's ``.hydra/*.yaml`` and,
    in a multirun, ``<sweep dir>/multirun.yaml`` (also when the job then fails its checks); mask
    them in what the job's log handlers write from now on."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    try:
        register_config_secrets(OmegaConf.to_container(cfg, resolve=True))
    except Exception:  # an interpolation that cannot resolve: validation reports it; mask what is typed
        register_config_secrets(OmegaConf.to_container(cfg, resolve=False))
    hydra_cfg = HydraConfig.get()
    files = list(Path(hydra_cfg.runtime.output_dir).glob(".hydra/*.yaml"))
    if hydra_cfg.mode == RunMode.MULTIRUN:
        files.append(Path(hydra_cfg.sweep.dir) / "multirun.yaml")
    redact_files(files)
    mask_log_handlers()


LOCAL_EXAMPLE = "configs/local/default.yaml.example"


def warn_unused_local(cfg: DictConfig) -> None:
    """One line when ``configs/local/default.yaml`` lacks its ``# @package _global_`` header: its keys
    then land under ``local:``, where nothing reads them."""
    local = cfg.get("local")
    if not local:
        return
    keys = ", ".join(f"local.{k}" for k in local)
    print(
        f"warning: configs/local/default.yaml changes nothing ({keys}): its first line must be "
        f"`# @package _global_` (see {LOCAL_EXAMPLE})",
        file=sys.stderr,
        flush=True,
    )
