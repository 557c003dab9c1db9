"""Semantic segmentation: per-pixel class logits; loss chosen by config (cross-entropy, Dice, IoU or
cross-entropy + Dice); pixel accuracy, mean IoU and Dice per stage; a pixel confusion matrix at test."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

from hydra.utils import get_object, instantiate
from omegaconf import DictConfig, OmegaConf
from torch import Tensor
from torchmetrics import MetricCollection
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassF1Score,
    MulticlassJaccardIndex,
)

from lightning_hydra_template.config.errors import ConfigError
from lightning_hydra_template.config.plain import to_plain
from lightning_hydra_template.config.validation import Check, check_fields, is_int, is_number
from lightning_hydra_template.models.class_outputs import ClassOutputs
from lightning_hydra_template.nets.unet import UNet

DEFAULT_LOSS = {"_target_": "lightning_hydra_template.models.losses.CrossEntropyLoss"}


class SegmenterModule(ClassOutputs):
    """Tracks the best validation mean IoU as ``val/miou_best``.

    Metrics are computed over all pixels of the epoch: ``pixel_acc`` (share of correct pixels), ``miou``
    (IoU per class, averaged) and ``dice`` (Dice = F1 per class, averaged); classes absent from both the
    masks and the predictions are left out of the averages.
    """

    best_metric = ("miou", "max")
    metric_names = ("pixel_acc", "miou", "dice")
    plot_kind = "segmentation"
    prediction_kind = "masks"

    def __init__(
        self,
        net: Mapping[str, Any],
        optimizer: Mapping[str, Any],
        scheduler: Mapping[str, Any] | None = None,
        loss: Mapping[str, Any] | None = None,
        num_classes: int = 4,
        class_names: Sequence[str] | None = None,
        compile: bool | Mapping[str, Any] = False,
        channels_last: bool = False,
    ) -> None:
        self.num_classes = num_classes
        self.loss_config = to_plain(loss) or dict(DEFAULT_LOSS)
        self.class_names = list(class_names) if class_names else [str(i) for i in range(num_classes)]
        if len(self.class_names) != num_classes:
            raise ValueError(f"{len(self.class_names)} class names for {num_classes} classes")
        super().__init__(
            net=net, optimizer=optimizer, scheduler=scheduler, compile=compile, channels_last=channels_last
        )
        self.criterion = instantiate(self.hparams["loss"])
        self.add_test_confusion(num_classes)

    @classmethod
    def check_config(cls, config: DictConfig) -> None:
        """Loss weights, and image sizes the U-Net can halve at every level (``data.image_size``)."""
        super().check_config(config)
        check_fields(
            config,
            [
                Check("model.loss.ce_weight", lambda v: is_number(v) and v >= 0, "a number >= 0"),
                Check("model.loss.dice_weight", lambda v: is_number(v) and v >= 0, "a number >= 0"),
                Check("model.loss.smooth", lambda v: is_number(v) and v >= 0, "a number >= 0"),
            ],
        )
        _check_image_size_fits_unet(config)

    def extra_hparams(self) -> dict[str, Any]:
        return {"loss": self.loss_config, "num_classes": self.num_classes, "class_names": self.class_names}

    def build_metrics(self, prefix: str) -> MetricCollection:
        n = self.num_classes
        return MetricCollection(
            {
                "pixel_acc": MulticlassAccuracy(n, average="micro"),
                "miou": MulticlassJaccardIndex(n, average="macro"),
                "dice": MulticlassF1Score(n, average="macro"),
            },
            prefix=prefix,
        )

    def compute_loss(self, outputs: Tensor, targets: Tensor) -> Tensor:
        return self.criterion(outputs, targets)

    def predictions(self, outputs: Tensor) -> Tensor:
        """Class probabilities per pixel, ``(N, C, H, W)``; their argmax over dim 1 is the mask."""
        return outputs.softmax(dim=1)

    def plot_arrays(self, inputs: Tensor, targets: Tensor) -> dict[str, Tensor]:
        """Images, true and predicted masks, for the segmentation grid."""
        return {"images": inputs, "true": targets, "pred": self(inputs).argmax(dim=1)}


def _check_image_size_fits_unet(config: DictConfig) -> None:
    """A U-Net halves the image at every level below the first: ``data.image_size`` must allow it."""
    select = partial(OmegaConf.select, config, default=None, throw_on_missing=False)
    size, channels, net = (
        select("data.image_size"),
        select("model.net.channels"),
        select("model.net._target_"),
    )
    if not (is_int(size) and channels and isinstance(net, str)):
        return
    try:
        net_class = get_object(net)
    except Exception:  # instantiating the network reports it
        return
    multiple = UNet.size_multiple(channels)
    if isinstance(net_class, type) and issubclass(net_class, UNet) and size % multiple:
        raise ConfigError(
            "data.image_size",
            f"got {size}; allowed: a multiple of {multiple} (the U-Net has {len(channels)} levels)",
        )
