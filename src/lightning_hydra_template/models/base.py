"""What a task is made of: a network and an optimizer from config, a loss, metrics per stage.

The plumbing sits next door: step_buffer, running_loss, best_metric, forward, optimizers, task_checks.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import lightning.pytorch as pl
from hydra.utils import instantiate
from omegaconf import DictConfig
from torch import Tensor
from torchmetrics import MeanMetric, MetricCollection

from lightning_hydra_template.config.plain import to_plain
from lightning_hydra_template.config.validation import check_fields
from lightning_hydra_template.models.best_metric import add_best, best_tracker
from lightning_hydra_template.models.forward import NetForward
from lightning_hydra_template.models.optimizers import SCHEDULER_LIGHTNING_KEYS, build_optimizers
from lightning_hydra_template.models.running_loss import RunningLoss
from lightning_hydra_template.models.step_buffer import StepBuffer
from lightning_hydra_template.models.task_checks import (
    TASK_FIELDS,
    check_declared_metrics,
    check_monitor_is_logged,
)

__all__ = ["SCHEDULER_LIGHTNING_KEYS", "TaskModule"]

STEP_METHODS = ("training_step", "validation_step", "test_step", "predict_step")


def keep_step_signatures(cls: type) -> None:
    """Store the signature of each step method ``cls`` defines on the function (``__signature__``, which
    ``inspect`` hands back as it is). Lightning's loops inspect the step method on every batch (does it take
    ``batch_idx``?), and ``inspect`` otherwise rebuilds the signature each time: about 10 us a batch.
    Decorated methods (with ``__wrapped__``) are left alone: ``inspect`` reads those two ways."""
    for name in STEP_METHODS:
        method = cls.__dict__.get(name)
        if (
            inspect.isfunction(method)
            and not hasattr(method, "__wrapped__")
            and "__signature__" not in vars(method)
        ):
            method.__signature__ = inspect.signature(method)  # type: ignore[attr-defined]


class TaskModule(pl.LightningModule):
    """Base LightningModule of a task; a subclass says what the loss and the metrics are:

    - :meth:`build_metrics` (one ``MetricCollection`` per stage) and ``metric_names``, its keys, so
      a config can be checked before the run (``monitor.metric`` must be logged);
    - :meth:`compute_loss`, and :meth:`metric_inputs` when the metrics want other values than the
      network's outputs (e.g. class indices);
    - ``best_metric = (name, "min" | "max")``, tracked across epochs as ``val/<name>_best``.

    Logged per epoch: ``train/``, ``val/`` and ``test/`` ``loss`` and every metric, and the best value.

    Batches: a tuple or list ``(inputs, targets, ...)``, or a mapping with ``input_key`` ("inputs") and
    ``target_key`` ("targets") entries. Override :meth:`split_batch` for other layouts. ``inputs`` go to
    the network as one argument (a tensor, or e.g. a dict of tensors for several inputs); ``targets``
    is a tensor with the samples on its first dimension; prediction batches may have none.

    Hyperparameters are plain dicts (network, optimizer and scheduler configs with ``_target_``),
    so a checkpoint rebuilds the module with ``load_from_checkpoint`` under ``weights_only=True``.
    """

    best_metric: tuple[str, str] = ("loss", "min")  # (metric name without stage, "min" | "max")
    # How `make predict` writes predictions: "classes" (probabilities per class), "masks" (class
    # probabilities per pixel) or "values" (one column per output).
    prediction_kind = "values"
    metric_names: tuple[str, ...] | None = None  # the keys build_metrics returns; None: not declared
    input_key = "inputs"
    target_key = "targets"

    def __init__(
        self,
        net: Mapping[str, Any],
        optimizer: Mapping[str, Any],
        scheduler: Mapping[str, Any] | None = None,
        compile: bool | Mapping[str, Any] = False,
        channels_last: bool = False,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(
            {
                "net": to_plain(net),
                "optimizer": to_plain(optimizer),
                "scheduler": to_plain(scheduler) or None,
                "compile": to_plain(compile) if isinstance(compile, Mapping) else compile,
                "channels_last": channels_last,
                **self.extra_hparams(),
            },
            logger=False,
        )
        self.net = instantiate(self.hparams["net"])
        self.net_forward = NetForward(self.hparams["compile"], channels_last)
        self.train_metrics = self.build_metrics("train/")
        self.val_metrics = self.build_metrics("val/")
        self.test_metrics = self.build_metrics("test/")
        check_declared_metrics(
            type(self).__name__, self.metric_names, [str(k) for k in self.val_metrics.keys(keep_base=True)]
        )
        self.train_loss = RunningLoss()
        self.val_loss = MeanMetric()
        self.test_loss = MeanMetric()
        self.val_best = best_tracker(self.best_metric[1])
        # Training steps keep their outputs here; the metrics see them in a few large updates.
        self._train_steps = StepBuffer()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        keep_step_signatures(cls)

    def __setattr__(self, name: str, value: Any) -> None:
        # Lightning sets `_current_fx_name` (a hook's name, or None) before and after every hook it calls:
        # 18 times per predicted batch, about 44 per training step. nn.Module.__setattr__ first tests the
        # value against Parameter, Module and Buffer (isinstance hooks written in Python), which costs more
        # than most of those hooks; a string is none of them, so it is stored directly.
        if name == "_current_fx_name":
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    # --- for subclasses ---------------------------------------------------------------------
    def extra_hparams(self) -> dict[str, Any]:
        """Task-specific constructor arguments to store in checkpoints."""
        return {}

    def build_metrics(self, prefix: str) -> MetricCollection:
        raise NotImplementedError

    def compute_loss(self, outputs: Tensor, targets: Tensor) -> Tensor:
        raise NotImplementedError

    def metric_inputs(self, outputs: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
        return outputs, targets

    def labelled_batch(self, batch: Any) -> tuple[Any, Tensor]:
        """``(inputs, targets)`` of a batch a step learns or measures from: it must hold targets."""
        inputs, targets = self.split_batch(batch)
        if targets is None:
            raise ValueError(f"{type(self).__name__}: a training, validation or test batch holds no targets")
        return inputs, targets

    def split_batch(self, batch: Any) -> tuple[Any, Tensor | None]:
        """``(inputs, targets)`` of a batch; targets are None when the batch has none."""
        if isinstance(batch, Tensor):
            return batch, None
        if isinstance(batch, Mapping):
            return batch[self.input_key], batch.get(self.target_key)
        return batch[0], (batch[1] if len(batch) > 1 else None)

    @classmethod
    def validation_metrics(cls) -> list[str] | None:
        """The ``val/...`` names this task logs, or None when ``metric_names`` is not declared."""
        if cls.metric_names is None:
            return None
        return ["val/loss", *(f"val/{name}" for name in cls.metric_names), f"val/{cls.best_metric[0]}_best"]

    @classmethod
    def check_config(cls, config: DictConfig) -> None:
        """Before the run starts (see config/validation.py): the ``model.*`` fields every task takes, and
        ``monitor.metric`` among :meth:`validation_metrics`. Subclasses add theirs after ``super()``."""
        check_fields(config, TASK_FIELDS)
        check_monitor_is_logged(config, cls.validation_metrics(), cls.__name__)

    # --- forward ----------------------------------------------------------------------------
    def setup(self, stage: str) -> None:
        self.net_forward.prepare(self.net)

    def forward(self, inputs: Any) -> Tensor:
        return self.net_forward(self.net, inputs)

    # --- steps ------------------------------------------------------------------------------
    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        inputs, targets = self.labelled_batch(batch)
        outputs = self(inputs)
        loss = self.compute_loss(outputs, targets)
        if self._train_steps.add(self.net_forward.keep(outputs), targets, loss.detach(), targets.shape[0]):
            self.flush_running_state()
        return loss

    def flush_running_state(self) -> None:
        """Hand buffered training steps to the metrics and loss sums (before they are saved or read)."""
        self._train_steps.flush(
            lambda outputs, targets: self.train_metrics.update(*self.metric_inputs(outputs, targets))
        )
        self._train_steps.flush_loss(self.train_loss.update)

    def evaluate_batch(self, stage: str, batch: Any) -> tuple[Tensor, Tensor]:
        """Update the stage's loss and metrics; returns ``(outputs, targets)`` for subclasses that
        keep more state (e.g. a test confusion matrix)."""
        inputs, targets = self.labelled_batch(batch)
        outputs = self(inputs)
        loss = self.compute_loss(outputs, targets)
        getattr(self, f"{stage}_loss").update(loss, weight=targets.shape[0])
        getattr(self, f"{stage}_metrics").update(*self.metric_inputs(outputs, targets))
        return outputs, targets

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self.evaluate_batch("val", batch)

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self.evaluate_batch("test", batch)

    def predictions(self, outputs: Tensor) -> Tensor:
        """What a prediction reports for the network's raw outputs (``make predict``, exported models)."""
        return outputs

    def predict_step(self, batch: Any, batch_idx: int) -> Tensor:
        return self.predictions(self(self.split_batch(batch)[0]))

    # --- epoch ends: compute, log, reset ----------------------------------------------------
    def on_train_epoch_start(self) -> None:
        self._train_steps.clear()  # an epoch interrupted before its end leaves nothing behind

    def on_train_epoch_end(self) -> None:
        self.flush_running_state()
        self.log_dict({"train/loss": self.train_loss.compute(), **self.train_metrics.compute()})
        self.train_metrics.reset()
        self.train_loss.reset()

    def _log_eval_epoch(self, stage: str) -> dict[str, Tensor]:
        metrics = getattr(self, f"{stage}_metrics")
        loss = getattr(self, f"{stage}_loss")
        values = {f"{stage}/loss": loss.compute(), **metrics.compute()}
        metrics.reset()
        loss.reset()
        return values

    def on_validation_epoch_end(self) -> None:
        values = self._log_eval_epoch("val")
        if not self.trainer.sanity_checking:
            add_best(values, self.val_best, self.best_metric[0])
        self.log_dict(values)

    def on_test_epoch_end(self) -> None:
        self.log_dict(self._log_eval_epoch("test"))

    # --- optimisation -----------------------------------------------------------------------
    def configure_optimizers(self) -> Any:
        return build_optimizers(self.hparams["optimizer"], self.hparams["scheduler"], self.parameters())


keep_step_signatures(TaskModule)
