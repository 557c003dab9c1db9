"""Components as a user of the template writes them, for tests that name them in ``_target_``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from omegaconf import DictConfig

from lightning_hydra_template.config.validation import Check, check_fields
from lightning_hydra_template.data.digits import DigitsDataModule  # example:digits
from lightning_hydra_template.data.in_memory import InMemoryLoader
from lightning_hydra_template.models.classifier import ClassifierModule


class PlainData(pl.LightningDataModule):
    """A datamodule of the user's own, with no ``check_config``: its fields are not checked."""

    def __init__(self, **fields: Any) -> None:
        super().__init__()
        self.fields = fields


class FolderData(PlainData):
    """A user's datamodule that checks its own field with the template's helpers."""

    @classmethod
    def check_config(cls, config: DictConfig) -> None:
        check_fields(
            config,
            [Check("data.root", lambda v: isinstance(v, str) and Path(v).is_dir(), "an existing directory")],
        )


class DictBatches:
    """Serves an :class:`InMemoryLoader`'s batches as ``{"inputs": ..., "targets": ...}``."""

    def __init__(self, loader: InMemoryLoader) -> None:
        self.loader = loader
        self.sampler = loader.sampler  # Lightning sets the epoch on it
        self.batch_sampler = None

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        for inputs, targets in self.loader:
            yield {"inputs": inputs, "targets": targets}

    def state_dict(self) -> dict[str, Any]:
        return self.loader.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.loader.load_state_dict(state)


# example:digits
class DictDigits(DigitsDataModule):
    """The digits, batched as dicts: the same samples in the same order as :class:`DigitsDataModule`."""

    def _loader(self, split: str, train: bool) -> DictBatches:  # type: ignore[override]
        return DictBatches(super()._loader(split, train))


# /example:digits


class RankState(pl.Callback):
    """Writes each process's parameters and buffers to ``<directory>/rank<r>.pt`` when fitting ends."""

    def __init__(self, directory: str) -> None:
        self.directory = directory

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        tensors = {**dict(pl_module.named_parameters()), **dict(pl_module.named_buffers())}
        Path(self.directory).mkdir(parents=True, exist_ok=True)
        torch.save(
            {name: t.detach().cpu().clone() for name, t in tensors.items()},
            Path(self.directory) / f"rank{trainer.global_rank}.pt",
        )


class UndeclaredClassifier(ClassifierModule):
    """A task that does not declare the metrics it logs: ``monitor.metric`` is not checked against them."""

    metric_names = None
