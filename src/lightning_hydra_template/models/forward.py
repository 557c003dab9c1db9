"""How a task module runs its network: optionally compiled with ``torch.compile``, optionally channels-last.

The compiled wrapper is held by this plain object, outside the module tree, so a module's
``state_dict`` keys are those of the plain network: checkpoints of compiled and uncompiled runs load
into each other.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor, nn


class NetForward:
    """Calls a network, compiled once :meth:`prepare` has run when ``compile`` is true or a mapping of
    ``torch.compile`` options; with ``channels_last``, 4-d weights and 4-d input batches use the NHWC layout."""

    def __init__(self, compile: bool | Mapping[str, Any] = False, channels_last: bool = False) -> None:
        self.compile_options = (dict(compile) if isinstance(compile, Mapping) else {}) if compile else None
        self.channels_last = bool(channels_last)
        self.compiled: Callable[..., Any] | None = None

    def prepare(self, net: nn.Module) -> None:
        """Convert the weights' layout and compile (once); call when the module is set up."""
        if self.channels_last:
            net.to(memory_format=torch.channels_last)  # 4-d weights only; the others are unaffected
        if self.compile_options is not None and self.compiled is None:
            self.compiled = torch.compile(net, **self.compile_options)

    def __call__(self, net: nn.Module, inputs: Any) -> Any:
        if self.channels_last and isinstance(inputs, Tensor) and inputs.dim() == 4:
            inputs = inputs.contiguous(memory_format=torch.channels_last)  # no copy when it already is
        return (net if self.compiled is None else self.compiled)(inputs)

    def keep(self, outputs: Tensor) -> Tensor:
        """Outputs detached to keep past the step: cloned when compiled, as the CUDA-graph modes of
        ``torch.compile`` reuse output memory on the next call."""
        outputs = outputs.detach()
        return outputs if self.compiled is None else outputs.clone()
