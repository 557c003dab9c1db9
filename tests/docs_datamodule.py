"""A LightningDataModule written the way Lightning's documentation shows one: datasets made in ``setup``
per stage, ordinary ``DataLoader``s, none of the template's in-memory API."""

from __future__ import annotations

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader, TensorDataset, random_split

from lightning_hydra_template.models.classifier import ClassifierModule


def _blobs(num_samples: int, seed: int) -> TensorDataset:
    generator = torch.Generator().manual_seed(seed)
    targets = torch.randint(0, 2, (num_samples,), generator=generator)
    inputs = torch.randn(num_samples, 8, generator=generator) + targets[:, None].float()
    return TensorDataset(inputs, targets)


class BlobsDataModule(pl.LightningDataModule):
    def __init__(self, batch_size: int = 32, num_samples: int = 600) -> None:
        super().__init__()
        self.batch_size = batch_size
        self.num_samples = num_samples

    def setup(self, stage: str) -> None:
        if stage == "fit":
            full = _blobs(self.num_samples, seed=0)
            self.train_set, self.val_set = random_split(
                full, [0.8, 0.2], generator=torch.Generator().manual_seed(1)
            )
        if stage == "test":
            self.test_set = _blobs(self.num_samples // 4, seed=2)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train_set, batch_size=self.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_set, batch_size=self.batch_size)

    def test_dataloader(self) -> DataLoader:
        return DataLoader(self.test_set, batch_size=self.batch_size)


class OneCycleClassifier(ClassifierModule):
    """Reads ``trainer.estimated_stepping_batches`` in ``configure_optimizers``, as a OneCycle schedule
    does: Lightning then builds the training loader before it loads a checkpoint's loop state."""

    def configure_optimizers(self):
        optimizer = torch.optim.SGD(self.parameters(), lr=0.05, momentum=0.9)
        total = int(self.trainer.estimated_stepping_batches)
        scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.1, total_steps=total)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
