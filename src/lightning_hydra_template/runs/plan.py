"""The run plan: how many samples, iterations and optimizer steps a run will make.

``plan_run`` is pure arithmetic with no Lightning import, so tests can check it against ``trainer.global_step``.
Vocabulary: an *iteration* is one mini-batch through forward pass, loss and backward pass; an
*optimizer step* updates the weights (after ``accumulate_grad_batches`` iterations, and always on
the last batch of an epoch); gradients are zeroed after every optimizer step, never once per epoch.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from lightning_hydra_template.config.errors import ConfigError


@dataclass(frozen=True)
class RunPlan:
    train_samples: int
    val_samples: int
    test_samples: int
    batch_size: int  # per device
    world_size: int
    drop_last: bool
    iterations_per_epoch: int  # mini-batches per epoch on each device
    last_batch_size: int  # samples in the final mini-batch of an epoch (== batch_size when even)
    accumulate_grad_batches: int
    optimizer_steps_per_epoch: int
    epochs: int
    total_iterations: int
    total_optimizer_steps: int
    val_batches: int
    val_every_n_epochs: int
    per_device_samples: int = -1  # training samples each device sees per epoch; -1 = equal shards

    def __post_init__(self) -> None:
        if self.per_device_samples < 0:
            object.__setattr__(self, "per_device_samples", self.train_samples // self.world_size)

    @property
    def global_batch_size(self) -> int:
        return self.batch_size * self.world_size

    @property
    def samples_per_optimizer_step(self) -> int:
        return self.global_batch_size * self.accumulate_grad_batches

    @property
    def regime(self) -> str:
        """Which of the three gradient-descent regimes the batch size gives."""
        per_device = self.per_device_samples
        if self.samples_per_optimizer_step == 1:
            return "stochastic gradient descent (one sample per update)"
        if self.batch_size >= per_device and self.accumulate_grad_batches == 1:
            return "batch gradient descent (the whole training split per update)"
        return "mini-batch gradient descent"

    def as_dict(self) -> dict[str, int | bool | str]:
        return {**asdict(self), "global_batch_size": self.global_batch_size, "regime": self.regime}

    def describe(self) -> str:
        acc = self.accumulate_grad_batches
        last = (
            f" (the last has {self.last_batch_size} samples)"
            if self.last_batch_size != self.batch_size
            else ""
        )
        dropped = self.per_device_samples - self.iterations_per_epoch * self.batch_size
        if self.drop_last and dropped > 0:
            last = f" ({dropped} samples left out each epoch by drop_last)"
        devices = (
            f" x {self.world_size} devices = {self.global_batch_size} per iteration"
            if self.world_size > 1
            else ""
        )
        steps = (
            "one optimizer step per iteration"
            if acc == 1
            else f"one optimizer step per {acc} iterations (gradient accumulation)"
        )
        lines = [
            f"Run plan: {self.regime}",
            f"  samples     train {self.train_samples} | val {self.val_samples} | test {self.test_samples}",
            f"  batch size  {self.batch_size} per device{devices}",
            f"  iterations  {self.iterations_per_epoch} per epoch{last}: forward pass, loss, backward pass",
            f"  epochs      {self.epochs} -> {self.total_iterations} iterations in total",
            f"  optimizer   {steps}, gradients zeroed after each step -> "
            f"{_count(self.optimizer_steps_per_epoch, 'step')} per epoch, {self.total_optimizer_steps} in total",
            f"  validation  {self.val_samples} samples in {_count(self.val_batches, 'batch')} after every "
            + ("epoch" if self.val_every_n_epochs == 1 else f"{self.val_every_n_epochs} epochs")
            + ", no weight updates",
        ]
        return "\n".join(lines)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}es" if noun.endswith("ch") else f"{n} {noun}s"


def _limit(num_batches: int, limit: int | float | None) -> int:
    """Lightning's ``limit_*_batches``: an int caps the count, a float takes a share."""
    if limit is None:
        return num_batches
    if isinstance(limit, float) and limit <= 1.0:
        return int(num_batches * limit)
    return min(num_batches, int(limit))


def plan_run(
    train_samples: int,
    batch_size: int,
    max_epochs: int,
    *,
    val_samples: int = 0,
    test_samples: int = 0,
    eval_batch_size: int | None = None,
    drop_last: bool = False,
    accumulate_grad_batches: int = 1,
    world_size: int = 1,
    limit_train_batches: int | float | None = None,
    limit_val_batches: int | float | None = None,
    max_steps: int = -1,
    fast_dev_run: bool | int = False,
    check_val_every_n_epoch: int = 1,
    per_device_samples: int | None = None,
    batches_per_epoch: int | None = None,
) -> RunPlan:
    """Compute the plan the Lightning Trainer will follow for these settings.

    ``per_device_samples`` defaults to equal shards of ``train_samples`` (the in-memory loader's);
    ``batches_per_epoch``, a loader's own length, wins over the count from samples and batch size
    (a custom batch sampler may batch differently).
    """
    if per_device_samples is not None:
        per_device = per_device_samples
    else:
        per_device = train_samples // world_size if world_size > 1 else train_samples
    full_batches, remainder = divmod(per_device, batch_size)
    iterations = full_batches if drop_last or remainder == 0 else full_batches + 1
    last_batch = batch_size if drop_last or remainder == 0 else remainder
    if batches_per_epoch is not None and batches_per_epoch != iterations:
        iterations, last_batch = batches_per_epoch, batch_size
    eval_bs = eval_batch_size or batch_size
    val_per_device = math.ceil(val_samples / world_size)
    val_batches = math.ceil(val_per_device / eval_bs) if val_samples else 0
    epochs = max_epochs
    if fast_dev_run:
        n = 1 if fast_dev_run is True else int(fast_dev_run)
        if n < iterations:
            last_batch = batch_size
        iterations, val_batches, epochs = min(iterations, n), min(val_batches, n), 1
    else:
        limited = _limit(iterations, limit_train_batches)
        if limited != iterations:
            iterations, last_batch = limited, batch_size
        val_batches = _limit(val_batches, limit_val_batches)
    steps_per_epoch = math.ceil(iterations / accumulate_grad_batches)
    total_steps = steps_per_epoch * epochs
    total_iterations = iterations * epochs
    if max_steps is not None and max_steps >= 0 and max_steps < total_steps:
        total_steps = max_steps
        full_epochs, extra_steps = divmod(max_steps, steps_per_epoch) if steps_per_epoch else (0, 0)
        epochs = full_epochs + (1 if extra_steps else 0)
        total_iterations = full_epochs * iterations + min(iterations, extra_steps * accumulate_grad_batches)
    return RunPlan(
        train_samples=train_samples,
        val_samples=val_samples,
        test_samples=test_samples,
        batch_size=batch_size,
        world_size=world_size,
        drop_last=drop_last,
        iterations_per_epoch=iterations,
        last_batch_size=last_batch,
        accumulate_grad_batches=accumulate_grad_batches,
        optimizer_steps_per_epoch=steps_per_epoch,
        epochs=epochs,
        total_iterations=total_iterations,
        total_optimizer_steps=total_steps,
        val_batches=val_batches,
        val_every_n_epochs=check_val_every_n_epoch,
        per_device_samples=per_device,
    )


def plan_for(cfg: Any, datamodule: Any, trainer: Any) -> RunPlan | None:
    """The run plan for this config, data and Trainer; rejects batch sizes the data cannot fill.

    The template's in-memory datamodules answer from their arrays without building a loader. Any other
    LightningDataModule is asked for its loaders (built, never iterated, so no worker starts and no
    loader state moves): ``len(loader)``, ``batch_size``, ``drop_last`` and ``len(dataset)``. A
    training loader without a length (an ``IterableDataset``) has no plan: None.
    """
    from lightning_hydra_template.data.base import InMemoryDataModule

    shape: dict[str, Any] | None
    if isinstance(datamodule, InMemoryDataModule):
        shape = _in_memory_shape(datamodule, trainer.world_size)
    else:
        shape = _loader_shape(datamodule, trainer)
    if shape is None:
        return None
    per_device = shape["per_device_samples"]
    if shape["drop_last"] and shape["batch_size"] > per_device:
        raise ConfigError(
            "data.batch_size",
            f"{shape['batch_size']} is larger than the {per_device} training samples per device, and with "
            "data.drop_last=true every batch would be dropped; use a batch size <= "
            f"{per_device} or data.drop_last=false",
        )
    tcfg = cfg.trainer
    overfit = tcfg.get("overfit_batches") or 0
    return plan_run(
        shape["train_samples"],
        shape["batch_size"],
        int(tcfg.max_epochs),
        val_samples=shape["val_samples"],
        test_samples=shape["test_samples"],
        eval_batch_size=shape["eval_batch_size"],
        drop_last=shape["drop_last"],
        accumulate_grad_batches=int(tcfg.get("accumulate_grad_batches") or 1),
        world_size=trainer.world_size,
        limit_train_batches=overfit or tcfg.get("limit_train_batches"),
        limit_val_batches=tcfg.get("limit_val_batches"),
        max_steps=int(tcfg.get("max_steps") or -1),
        fast_dev_run=tcfg.get("fast_dev_run") or False,
        check_val_every_n_epoch=int(tcfg.get("check_val_every_n_epoch") or 1),
        per_device_samples=per_device,
        batches_per_epoch=shape.get("batches_per_epoch"),
    )


def _in_memory_shape(datamodule: Any, world_size: int) -> dict[str, Any]:
    train_samples = datamodule.num_samples("train")
    return {
        "train_samples": train_samples,
        "per_device_samples": train_samples // world_size,  # equal shards
        "batch_size": datamodule.resolve_batch_size(world_size),
        "drop_last": bool(datamodule.drop_last),
        "val_samples": datamodule.num_samples("val"),
        "test_samples": datamodule.num_samples("test"),
        "eval_batch_size": datamodule.resolve_eval_batch_size(world_size),
    }


def _sized(obj: Any) -> int | None:
    try:
        return len(obj)
    except (TypeError, NotImplementedError):
        return None


def _batching(loader: Any) -> tuple[int | None, bool]:
    """``(batch_size, drop_last)`` of a DataLoader, also when it was given a batch sampler."""
    batch_size = getattr(loader, "batch_size", None)
    drop_last = bool(getattr(loader, "drop_last", False))
    if batch_size is None:
        batch_sampler = getattr(loader, "batch_sampler", None)
        batch_size = getattr(batch_sampler, "batch_size", None)
        drop_last = bool(getattr(batch_sampler, "drop_last", drop_last))
    return batch_size, drop_last


def _split_samples(datamodule: Any, split: str) -> tuple[int, int | None]:
    """Samples and batch size of the ``val`` or ``test`` loader; (0, None) when there is none yet."""
    from lightning.pytorch.utilities.model_helpers import is_overridden

    if not is_overridden(f"{split}_dataloader", datamodule):
        return 0, None
    try:
        loader = getattr(datamodule, f"{split}_dataloader")()
    except (AttributeError, KeyError):
        return 0, None  # e.g. a test dataset that only setup("test") creates; Lightning sets it up later
    if loader is None or isinstance(loader, (list, tuple, dict)):
        return 0, None
    return _sized(getattr(loader, "dataset", None)) or 0, _batching(loader)[0]


def _loader_shape(datamodule: Any, trainer: Any) -> dict[str, Any] | None:
    from torch.utils.data import DistributedSampler

    if getattr(datamodule, "trainer", None) is None:
        datamodule.trainer = trainer  # as fit() will: loaders may read the rank and the device from it
    loader = datamodule.train_dataloader()
    batches = _sized(loader)
    batch_size, drop_last = _batching(loader)
    dataset_len = _sized(getattr(loader, "dataset", None))
    if batches is None or batch_size is None:
        return None
    world_size = trainer.world_size
    sampler = getattr(loader, "sampler", None)
    if dataset_len is None:
        dataset_len = batches * batch_size
    if world_size == 1:
        per_device = _sized(sampler) or dataset_len
    elif isinstance(sampler, DistributedSampler):
        per_device = len(sampler)  # the datamodule shards itself
    else:  # Lightning adds a DistributedSampler: every device gets ceil(N / devices) samples
        per_device = math.ceil(dataset_len / world_size)
    val_samples, val_batch = _split_samples(datamodule, "val")
    test_samples, _ = _split_samples(datamodule, "test")
    return {
        "train_samples": dataset_len,
        "batches_per_epoch": batches if world_size == 1 else None,
        "per_device_samples": per_device,
        "batch_size": int(batch_size),
        "drop_last": drop_last,
        "val_samples": val_samples,
        "test_samples": test_samples,
        "eval_batch_size": val_batch,
    }
