"""Exact resume for any LightningDataModule: a plain ``DataLoader`` becomes a ``StatefulDataLoader``.

Lightning saves the position inside the epoch only for a loader with ``state_dict`` /
``load_state_dict``. ``torchdata``'s ``StatefulDataLoader`` takes the same arguments as
``torch.utils.data.DataLoader`` and has them; with ``shuffle=True`` its sampler keeps its random
generator's state as well. :func:`resumable_train_loader` makes a datamodule's ``train_dataloader``
return one, so a datamodule written the way Lightning's documentation shows resumes mid-epoch with
the very batches an uninterrupted run would have seen. Loaders of other types are left alone.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any

from torch.utils.data import BatchSampler, DataLoader, RandomSampler, SequentialSampler

# DataLoader settings carried over as they are (public attributes of torch's DataLoader)
_SETTINGS = (
    "num_workers",
    "collate_fn",
    "pin_memory",
    "timeout",
    "worker_init_fn",
    "multiprocessing_context",
    "generator",
    "persistent_workers",
    "pin_memory_device",
)


def as_stateful(loader: Any) -> Any:
    """A ``StatefulDataLoader`` that serves what ``loader`` serves, if ``loader`` is a plain
    ``DataLoader`` over a map-style dataset; anything else is returned unchanged."""
    from torch.utils.data import IterableDataset
    from torchdata.stateful_dataloader import StatefulDataLoader

    if type(loader) is not DataLoader or isinstance(loader.dataset, IterableDataset):
        return loader
    options: dict[str, Any] = {name: getattr(loader, name) for name in _SETTINGS if hasattr(loader, name)}
    if loader.num_workers > 0:
        options["prefetch_factor"] = loader.prefetch_factor
    if hasattr(loader, "in_order"):
        options["in_order"] = loader.in_order
    batch_sampler = loader.batch_sampler
    if batch_sampler is not None and type(batch_sampler) is not BatchSampler:
        options["batch_sampler"] = batch_sampler  # the user's own batching, kept (resumed by skipping)
    else:
        options["batch_size"] = loader.batch_size
        options["drop_last"] = loader.drop_last
        sampler = loader.sampler
        if (
            type(sampler) is RandomSampler
            and sampler.num_samples == len(loader.dataset)  # type: ignore[arg-type]  # map-style: sized
            and not sampler.replacement
        ):
            options["shuffle"] = True  # torchdata's own random sampler, whose generator state is saved
            options["generator"] = sampler.generator or loader.generator
        elif type(sampler) is not SequentialSampler:
            options["sampler"] = sampler
    with warnings.catch_warnings():  # torchdata 0.11 calls a deprecated torch function
        warnings.filterwarnings("ignore", message=".*set_vital.*")
        return StatefulDataLoader(loader.dataset, **options)


def resumable_train_loader(datamodule: Any) -> Any:
    """Make ``datamodule.train_dataloader()`` return a resumable loader (see :func:`as_stateful`)."""
    original = datamodule.train_dataloader

    @functools.wraps(original)
    def train_dataloader() -> Any:
        return as_stateful(original())

    datamodule.train_dataloader = train_dataloader
    return datamodule
