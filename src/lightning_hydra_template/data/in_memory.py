"""A batch loader for datasets that fit in memory.

Instead of a per-sample ``__getitem__`` plus ``collate``, each epoch permutes the tensors once and
serves contiguous slices of the permuted copy: a mini-batch costs one tensor view per tensor.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor


class EpochShuffle:
    """The sample order of one epoch, a pure function of ``(seed, epoch)``.

    Lightning calls ``set_epoch`` on a loader's ``sampler`` at the start of each training epoch, so a
    resumed run sees exactly the order an uninterrupted run would have seen.
    """

    def __init__(self, num_samples: int, shuffle: bool, seed: int) -> None:
        self.num_samples = num_samples
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def order(self) -> Tensor | None:
        """A permutation of the sample indices, or None for the natural order."""
        if not self.shuffle:
            return None
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return torch.randperm(self.num_samples, generator=generator)


class InMemoryLoader:
    """Iterates mini-batches of in-memory tensors that share their first dimension.

    With ``world_size > 1`` each process gets every ``world_size``-th sample of the epoch's order. For
    training (``even_shards=True``) the shards are cut to equal length so that every process runs the
    same number of steps; evaluation keeps every sample exactly once across processes.
    """

    def __init__(
        self,
        tensors: tuple[Tensor, ...],
        batch_size: int,
        shuffle: bool = False,
        drop_last: bool = False,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        even_shards: bool = False,
        pin_memory: bool = False,
    ) -> None:
        if not tensors:
            raise ValueError("InMemoryLoader needs at least one tensor")
        sizes = {t.shape[0] for t in tensors}
        if len(sizes) != 1:
            raise ValueError(f"all tensors must have the same number of samples, got {sorted(sizes)}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.tensors = tensors
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.rank = rank
        self.world_size = world_size
        self.even_shards = even_shards
        # Host tensors meant for a GPU: each epoch's permuted copy goes to page-locked memory, so the
        # Trainer's per-batch copies (non_blocking for CUDA) overlap with compute.
        self.pin_memory = pin_memory and tensors[0].device.type == "cpu"
        self.sampler = EpochShuffle(tensors[0].shape[0], shuffle, seed)
        self.batch_sampler = None  # Lightning inspects these two attributes like a DataLoader's
        self._served = 0  # batches of the current epoch handed out so far
        self._resume: tuple[int, int] | None = None  # (epoch, batches to skip) from a checkpoint

    @property
    def num_samples(self) -> int:
        """Samples this process sees per epoch."""
        total = self.sampler.num_samples
        if self.world_size == 1:
            return total
        if self.even_shards:
            return total // self.world_size
        return len(range(self.rank, total, self.world_size))

    def __len__(self) -> int:
        if self.drop_last:
            return self.num_samples // self.batch_size
        return math.ceil(self.num_samples / self.batch_size)

    def _epoch_tensors(self) -> tuple[Tensor, ...]:
        order = self.sampler.order()
        if self.world_size > 1:
            if order is None:
                order = torch.arange(self.sampler.num_samples)
            order = order[self.rank :: self.world_size][: self.num_samples]
        if order is None:
            return tuple(t.pin_memory() for t in self.tensors) if self.pin_memory else self.tensors
        order = order.to(self.tensors[0].device)
        if not self.pin_memory:
            return tuple(t.index_select(0, order) for t in self.tensors)
        # A fresh pinned tensor per epoch: PyTorch's pinned-memory cache reuses the block only once the
        # copies still reading it have finished, so an epoch never overwrites batches in flight.
        pinned = []
        for t in self.tensors:
            out = torch.empty((len(order), *t.shape[1:]), dtype=t.dtype, pin_memory=True)
            pinned.append(torch.index_select(t, 0, order, out=out))
        return tuple(pinned)

    # --- exact resume: Lightning stores these in checkpoints (FitLoop "combined_loader" state) ------
    def state_dict(self) -> dict[str, Any]:
        """The position inside the epoch: Lightning asks for it when it saves a checkpoint."""
        return {"epoch": self.sampler.epoch, "batches_served": self._served, "seed": self.sampler.seed}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue the stored epoch after its ``batches_served`` batches (the order depends only on
        ``(seed, epoch)``, so the remaining batches are exactly those an uninterrupted run sees)."""
        self._resume = (int(state["epoch"]), int(state["batches_served"]))

    def __iter__(self) -> Iterator[tuple[Tensor, ...]]:
        # A generator: nothing below runs before the first batch is requested, by which time
        # Lightning has called ``sampler.set_epoch`` for the epoch being served.
        skip = 0
        if self._resume is not None:
            epoch, served = self._resume
            self._resume = None
            if epoch == self.sampler.epoch:
                skip = served
        tensors = self._epoch_tensors()
        bs = self.batch_size
        self._served = skip
        for i in range(skip, len(self)):
            start = i * bs
            self._served = i + 1
            yield tuple(t[start : start + bs] for t in tensors)
