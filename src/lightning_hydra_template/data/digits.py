"""scikit-learn's bundled handwritten digits (1,797 real 8x8 images, 10 classes)."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.datasets import load_digits

from lightning_hydra_template.data.base import InMemoryDataModule


class DigitsDataModule(InMemoryDataModule):
    """Stratified train/val/test split of the digits; pixels scaled once to [0, 1], shape (N, 1, 8, 8)."""

    stratified = True
    num_classes = 10
    class_names = tuple(str(digit) for digit in range(10))

    def load_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        digits = load_digits()
        images = (digits.images / 16.0).astype(np.float32)[:, None, :, :]
        return images, digits.target.astype(np.int64)

    def to_tensors(self, inputs: np.ndarray, targets: np.ndarray) -> tuple[torch.Tensor, ...]:
        return torch.from_numpy(np.ascontiguousarray(inputs)), torch.from_numpy(targets)
