"""A training sampler whose every epoch is a pure function of ``(seed, epoch)``: the sample order and one
augmentation seed per sample. A run resumed mid-epoch therefore sees the very samples, in the very order,
with the very random crops an uninterrupted run would have seen, whatever the number of workers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import DistributedSampler

SEED_RANGE = 2**31 - 1


class EpochSampler(DistributedSampler):
    """Yields ``(index, augmentation seed)`` pairs for a dataset that accepts them as keys.

    A ``DistributedSampler`` so that Lightning keeps it under DDP (each process takes every
    ``world_size``-th sample of the epoch's order, cut to equal shards), and stateful so that
    ``torchdata``'s ``StatefulDataLoader`` stores the position inside the epoch in checkpoints.
    ``batch_size`` and ``drop_last`` tell it when an epoch is complete: a state saved after the
    last batch resumes at the start of the next epoch.
    """

    def __init__(
        self,
        num_samples: int,
        shuffle: bool = True,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        batch_size: int = 1,
        drop_last: bool = False,
    ) -> None:
        super().__init__(
            range(num_samples),  # type: ignore[arg-type]  # any sized sequence: only its length is read
            num_replicas=world_size,
            rank=rank,
            shuffle=shuffle,
            seed=seed,
        )
        self.total = num_samples
        self.per_process = num_samples // world_size if world_size > 1 else num_samples
        self.consumed_per_epoch = (
            self.per_process - self.per_process % batch_size if drop_last else self.per_process
        )
        self.yielded = 0  # samples of the current epoch handed out so far
        self._skip = 0  # samples to pass over when the next iteration starts (set by a resume)

    def __len__(self) -> int:
        return self.per_process

    def epoch_plan(self, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """This process's sample indices of ``epoch`` in order, and their augmentation seeds."""
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        order = torch.randperm(self.total, generator=generator) if self.shuffle else torch.arange(self.total)
        seeds = torch.randint(0, SEED_RANGE, (self.total,), generator=generator)
        if self.num_replicas > 1:
            order = order[self.rank :: self.num_replicas][: self.per_process]
            seeds = seeds[self.rank :: self.num_replicas][: self.per_process]
        return order, seeds

    def __iter__(self) -> Iterator[tuple[int, int]]:
        # A generator: the epoch is read when the first sample is requested, after Lightning's set_epoch
        # or a resume's load_state_dict.
        skip, self._skip = self._skip, 0
        order, seeds = self.epoch_plan(self.epoch)
        pairs = zip(order[skip:].tolist(), seeds[skip:].tolist(), strict=True)
        self.yielded = skip
        for pair in pairs:
            self.yielded += 1
            yield pair

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "yielded": self.yielded, "seed": self.seed}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        epoch, yielded = int(state["epoch"]), int(state["yielded"])
        if yielded >= self.consumed_per_epoch:  # saved after the epoch's last batch
            epoch, yielded = epoch + 1, 0
        self.set_epoch(epoch)
        self.yielded = self._skip = yielded
