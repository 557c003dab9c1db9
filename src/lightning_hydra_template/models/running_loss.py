"""The epoch's mean training loss, from per-step losses weighted by their samples.

A torchmetrics ``Metric``, not module buffers: DDP copies rank 0's buffers to every rank before a
forward pass, which would overwrite each rank's own sums. Metric states are left alone by DDP, summed
over the processes when computed, and saved with every checkpoint by the exact-resume callback.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import cast

import torch
from torch import Tensor, nn
from torchmetrics import Metric

SUMS = ("total", "count")


class RunningLoss(Metric):
    """``total`` (sum of loss x samples) and ``count`` (samples) in float64; :meth:`compute` gives the mean.

    The sums stay float64 whatever dtype the module is cast to (``bf16-true`` precision, ``.half()``).
    """

    full_state_update = False
    total: Tensor  # states, added in __init__
    count: Tensor

    def __init__(self) -> None:
        super().__init__()
        self.add_state("total", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, losses: Tensor, counts: Sequence[int]) -> None:
        """Add steps' mean losses ``losses`` (one per step) over ``counts`` samples each."""
        weights = torch.tensor(list(counts), dtype=losses.dtype, device=losses.device)
        self.total += (losses * weights).double().sum()
        self.count += sum(counts)

    def compute(self) -> Tensor:
        return (self.total / self.count.clamp(min=1)).float()

    def _apply(self, fn: Callable[[Tensor], Tensor], exclude_state: Sequence[str] = ()) -> nn.Module:
        module = cast(Metric, super()._apply(fn, exclude_state=(*exclude_state, *SUMS)))  # returns self
        for name in SUMS:  # follow the device, keep float64
            default = module._defaults[name]
            assert isinstance(default, Tensor)  # SUMS are tensor states
            module._defaults[name] = default.to(module.device)
            setattr(module, name, getattr(module, name).to(module.device))
        return module
