"""Batches per second of the template's ``InMemoryLoader`` against ``DataLoader(TensorDataset)`` with
the same tensors, batch size and per-epoch shuffling."""

from __future__ import annotations

import time
from typing import Any


def digits_train_split(device: str = "cpu") -> tuple[Any, Any]:
    """The digits training split as the template's datamodule prepares it."""
    from lightning_hydra_template.data.digits import DigitsDataModule

    datamodule = DigitsDataModule()
    datamodule.setup("fit")
    inputs, targets = datamodule.splits["train"]
    return inputs.to(device), targets.to(device)


def batches_per_second(loader: Any, epochs: int, device: str = "cpu") -> float:
    """Iterate ``epochs`` full epochs of ``loader`` (moving each batch to ``device``, as a Trainer does)."""
    from benchmarks.timing import synchronize

    batches = 0
    start = time.perf_counter()
    for epoch in range(epochs):
        if hasattr(loader.sampler, "set_epoch"):
            loader.sampler.set_epoch(epoch)
        for inputs, targets in loader:
            inputs.to(device, non_blocking=True)
            targets.to(device, non_blocking=True)
            batches += 1
    synchronize(device)
    return batches / (time.perf_counter() - start)


def in_memory_loader(tensors: tuple[Any, ...], batch_size: int) -> Any:
    from lightning_hydra_template.data.in_memory import InMemoryLoader

    return InMemoryLoader(tensors, batch_size=batch_size, shuffle=True, seed=0)


def torch_dataloader(tensors: tuple[Any, ...], batch_size: int) -> Any:
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    return DataLoader(
        TensorDataset(*tensors),
        batch_size=batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(0),
    )
