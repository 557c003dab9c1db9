"""The process's rank as its launcher set it, known before torch or Lightning are imported."""

from __future__ import annotations

import os

# the variables Lightning reads for the global rank, in its order (lightning.fabric.utilities.rank_zero)
RANK_VARIABLES = ("RANK", "LOCAL_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK")


def launched_rank() -> int:
    """0 for a single process and for the first process of a DDP, torchrun or SLURM launch."""
    for name in RANK_VARIABLES:
        value = os.environ.get(name)
        if value is not None and value.strip().isdigit():
            return int(value)
    return 0
