"""Classification: cross-entropy loss; accuracy and macro F1 per stage; a confusion matrix at test."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch.nn.functional as F
from torch import Tensor
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

from lightning_hydra_template.models.class_outputs import ClassOutputs


class ClassifierModule(ClassOutputs):
    """Tracks the best validation accuracy across epochs as ``val/acc_best``."""

    best_metric = ("acc", "max")
    prediction_kind = "classes"
    metric_names = ("acc", "f1")

    def __init__(
        self,
        net: Mapping[str, Any],
        optimizer: Mapping[str, Any],
        scheduler: Mapping[str, Any] | None = None,
        num_classes: int = 10,
        label_smoothing: float = 0.0,
        compile: bool | Mapping[str, Any] = False,
        channels_last: bool = False,
        class_names: Sequence[str] | None = None,
    ) -> None:
        self.num_classes = num_classes
        self.class_names = list(class_names) if class_names else None  # confusion-matrix labels
        self.label_smoothing = label_smoothing
        super().__init__(
            net=net, optimizer=optimizer, scheduler=scheduler, compile=compile, channels_last=channels_last
        )
        self.add_test_confusion(num_classes)  # plotted by the TaskPlots callback (confusion_matrix.png)

    def extra_hparams(self) -> dict[str, Any]:
        return {
            "num_classes": self.num_classes,
            "label_smoothing": self.label_smoothing,
            "class_names": self.class_names,
        }

    def build_metrics(self, prefix: str) -> MetricCollection:
        return MetricCollection(
            {
                "acc": MulticlassAccuracy(self.num_classes, average="micro"),
                "f1": MulticlassF1Score(self.num_classes, average="macro"),
            },
            prefix=prefix,
        )

    def compute_loss(self, outputs: Tensor, targets: Tensor) -> Tensor:
        return F.cross_entropy(outputs, targets, label_smoothing=self.label_smoothing)

    def predictions(self, outputs: Tensor) -> Tensor:
        """Class probabilities."""
        return outputs.softmax(dim=1)
