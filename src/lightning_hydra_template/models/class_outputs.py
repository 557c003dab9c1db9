"""What tasks with one class per sample or per pixel share: argmax predictions and a test confusion matrix."""

from __future__ import annotations

from typing import Any

from torch import Tensor
from torchmetrics.classification import MulticlassConfusionMatrix

from lightning_hydra_template.models.base import TaskModule


class ClassOutputs(TaskModule):
    """Outputs are class logits on dim 1. After testing, ``self.confusion_matrix`` holds the counts
    (rows: true class, columns: predicted), for the plot callbacks."""

    def add_test_confusion(self, num_classes: int) -> None:
        """Call in ``__init__`` after ``super().__init__``: updated in test_step only, never per training step."""
        self.test_confusion = MulticlassConfusionMatrix(num_classes)
        self.confusion_matrix: Tensor | None = None

    def metric_inputs(self, outputs: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
        return outputs.argmax(dim=1), targets

    def test_step(self, batch: Any, batch_idx: int) -> None:
        outputs, targets = self.evaluate_batch("test", batch)
        self.test_confusion.update(outputs.argmax(dim=1), targets)

    def on_test_epoch_end(self) -> None:
        self.confusion_matrix = self.test_confusion.compute().cpu()
        self.test_confusion.reset()
        super().on_test_epoch_end()
