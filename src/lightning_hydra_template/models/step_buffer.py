"""Per-step outputs gathered on the device and fed to the metrics in a few large updates.

A torchmetrics ``update`` costs tens of microseconds of Python (input checks, state bookkeeping)
whatever the batch size, which is most of a small network's step. Metrics of this template are sums
over samples (counts, squared errors), so updating them once with the concatenated batches gives the
values a per-step update gives, up to floating-point summation order.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

# Output elements kept before an update is forced: bounds the memory held (about 4 MiB of float32 at
# the default), so large outputs (segmentation maps) are still fed to the metrics every step or so.
DEFAULT_MAX_ELEMENTS = 1 << 20
# Steps kept before an update is forced, whatever their size.
DEFAULT_MAX_STEPS = 256


class StepBuffer:
    """Collects ``(outputs, targets)`` and weighted losses per step; :meth:`flush` hands them over.

    Nothing here reads a value back from the device, so a step never waits for the GPU.
    """

    def __init__(self, max_elements: int = DEFAULT_MAX_ELEMENTS, max_steps: int = DEFAULT_MAX_STEPS) -> None:
        self.max_elements = max_elements
        self.max_steps = max_steps
        self._outputs: list[Tensor] = []
        self._targets: list[Tensor] = []
        self._losses: list[Tensor] = []
        self._counts: list[int] = []
        self._elements = 0

    def __len__(self) -> int:
        return len(self._outputs)

    def add(self, outputs: Tensor, targets: Tensor, loss: Tensor | None = None, count: int = 0) -> bool:
        """Keep one step's detached outputs and targets, and optionally its mean loss over ``count``
        samples; True once the buffer is full and should be flushed."""
        self._outputs.append(outputs)
        self._targets.append(targets)
        if loss is not None:
            self._losses.append(loss)
            self._counts.append(count)
        self._elements += outputs.numel() + targets.numel()
        return self._elements >= self.max_elements or len(self._outputs) >= self.max_steps

    def flush(self, update: Callable[[Tensor, Tensor], None]) -> None:
        """Call ``update(outputs, targets)`` once with everything gathered so far, then forget it."""
        if self._outputs:
            outputs = self._outputs[0] if len(self._outputs) == 1 else torch.cat(self._outputs)
            targets = self._targets[0] if len(self._targets) == 1 else torch.cat(self._targets)
            self._outputs.clear()
            self._targets.clear()
            self._elements = 0
            update(outputs, targets)

    def flush_loss(self, update: Callable[[Tensor, list[int]], None]) -> None:
        """Call ``update(losses, counts)`` once with the kept steps' mean losses (stacked) and their
        sample counts (e.g. :class:`~lightning_hydra_template.models.running_loss.RunningLoss`), then forget them."""
        if not self._losses:
            return
        losses, counts = torch.stack(self._losses), list(self._counts)
        self._losses.clear()
        self._counts.clear()
        update(losses, counts)

    def clear(self) -> None:
        self._outputs.clear()
        self._targets.clear()
        self._losses.clear()
        self._counts.clear()
        self._elements = 0
