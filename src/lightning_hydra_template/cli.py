"""What every entry point shares: Hydra's main with early override checks and one-line errors."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from omegaconf import DictConfig

from lightning_hydra_template.config.compose import CONFIG_DIR
from lightning_hydra_template.config.errors import user_errors
from lightning_hydra_template.config.overrides import (
    INFO_FLAGS,
    MULTIRUN_FLAGS,
    check_overrides,
    make_overrides,
)
from lightning_hydra_template.config.resolvers import register_resolvers, start_new_run
from lightning_hydra_template.config.secrets import load_dotenv, register_override_secrets
from lightning_hydra_template.distributed.slurm import slurm_run_dir_arguments
from lightning_hydra_template.runs.resume import resume_arguments


def hydra_entry(config_name: str, task: Callable[[DictConfig], Any]) -> Callable[[], Any]:
    """A console-script ``main`` that checks overrides early, then runs ``task`` under Hydra."""
    import hydra

    def task_with_clean_errors(cfg: DictConfig) -> Any:
        from lightning_hydra_template.distributed.sweep import in_multirun, run_sweep_job

        if in_multirun():  # a failed job is recorded and the sweep goes on (distributed/sweep.py)
            return run_sweep_job(task, cfg)
        with user_errors():
            return task(cfg)

    hydra_main = hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name=config_name)(
        task_with_clean_errors
    )

    def main() -> Any:
        start_new_run()
        register_resolvers()
        sys.argv[1:] = make_overrides() + sys.argv[1:]
        load_dotenv()  # secrets in ./.env reach the environment, and are masked like any other
        if config_name == "train":
            sys.argv[1:] = slurm_run_dir_arguments(resume_arguments(sys.argv[1:]))
        args = sys.argv[1:]
        register_override_secrets(args)
        if not any(a in INFO_FLAGS or a.split("=")[0] in INFO_FLAGS for a in args) and not any(
            a in MULTIRUN_FLAGS for a in args
        ):
            check_overrides(config_name, [a for a in args if not a.startswith("-")])
        return hydra_main()

    return main
