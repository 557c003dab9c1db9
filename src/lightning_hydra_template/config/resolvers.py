"""OmegaConf resolvers the configs use; registered before Hydra composes anything."""

from __future__ import annotations

import os
import secrets

from omegaconf import OmegaConf

_RUN_ID = os.environ.get("LHT_RUN_ID") or secrets.token_hex(2)


def register_resolvers() -> None:
    # One id per process (children of a DDP launch inherit it through LHT_RUN_ID): two runs started
    # in the same second still get different directories.
    os.environ.setdefault("LHT_RUN_ID", _RUN_ID)
    if not OmegaConf.has_resolver("lht_run_id"):
        OmegaConf.register_new_resolver("lht_run_id", lambda: os.environ["LHT_RUN_ID"])
