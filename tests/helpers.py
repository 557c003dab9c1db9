"""Test-only building blocks: data with exact split sizes for run-plan arithmetic."""

from __future__ import annotations

import numpy as np
import torch

from lightning_hydra_template.data.base import InMemoryDataModule


class SyntheticDataModule(InMemoryDataModule):
    """Linearly separable 2-class blobs with exactly ``num_train``/``num_val``/``num_test`` samples."""

    num_classes = 2
    input_shape = (8,)

    def __init__(self, num_train: int = 1000, num_val: int = 100, num_test: int = 100, **kwargs) -> None:
        super().__init__(**kwargs)
        self.sizes = {"train": num_train, "val": num_val, "test": num_test}

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        rng = np.random.default_rng(self.split_seed)
        for name, n in self.sizes.items():
            targets = rng.integers(0, 2, size=n)
            inputs = rng.normal(size=(n, 8)).astype(np.float32) + targets[:, None].astype(np.float32)
            self.splits[name] = (torch.from_numpy(inputs), torch.from_numpy(targets.astype(np.int64)))
