"""``val/<name>_best``: the best validation value so far, for loggers, progress bars and sweeps.

The tracker is a torchmetrics aggregate, so it moves with the module and the exact-resume callback
saves it with every checkpoint.
"""

from __future__ import annotations

from torch import Tensor
from torchmetrics.aggregation import MaxMetric, MinMetric


def best_tracker(mode: str) -> MaxMetric | MinMetric:
    """Keeps the largest (``mode="max"``) or smallest (``"min"``) value it is given."""
    return MaxMetric() if mode == "max" else MinMetric()


def add_best(values: dict[str, Tensor], tracker: MaxMetric | MinMetric, name: str) -> None:
    """Give ``values["val/<name>"]`` to ``tracker`` and add the best so far as ``val/<name>_best``."""
    tracker.update(values[f"val/{name}"])
    values[f"val/{name}_best"] = tracker.compute()
