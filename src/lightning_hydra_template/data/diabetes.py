"""scikit-learn's bundled diabetes data: 442 patients, 10 features, disease progression after a year."""

from __future__ import annotations

import numpy as np
import torch
from omegaconf import DictConfig
from sklearn.datasets import load_diabetes

from lightning_hydra_template.config.validation import Check, check_fields
from lightning_hydra_template.data.base import InMemoryDataModule


class DiabetesDataModule(InMemoryDataModule):
    """Regression data in raw units, standardised with statistics of the training split only.

    ``target_mean`` / ``target_std`` (and the feature statistics) are kept after :meth:`setup` so that
    predictions can be mapped back to the original units with :meth:`inverse_transform_targets`.
    """

    num_features = 10

    @classmethod
    def check_config(cls, config: DictConfig) -> None:
        super().check_config(config)
        check_fields(
            config,
            [
                Check("data.scale_features", lambda v: isinstance(v, bool), "true or false"),
                Check("data.scale_targets", lambda v: isinstance(v, bool), "true or false"),
            ],
        )

    def __init__(self, scale_features: bool = True, scale_targets: bool = True, **kwargs) -> None:
        super().__init__(**kwargs)
        self.scale_features = scale_features
        self.scale_targets = scale_targets
        self.feature_mean = np.zeros(self.num_features, dtype=np.float32)
        self.feature_std = np.ones(self.num_features, dtype=np.float32)
        self.target_mean = 0.0
        self.target_std = 1.0

    def load_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        data = load_diabetes(scaled=False)
        return data.data.astype(np.float32), data.target.astype(np.float32)[:, None]

    def fit_transforms(self, splits: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
        features, targets = splits["train"]
        if self.scale_features:
            self.feature_mean = features.mean(axis=0)
            self.feature_std = np.where(features.std(axis=0) > 0, features.std(axis=0), 1.0).astype(
                np.float32
            )
        if self.scale_targets:
            self.target_mean = float(targets.mean())
            self.target_std = float(targets.std()) or 1.0
        for name, (x, y) in splits.items():
            splits[name] = (
                self.transform_inputs(x),
                ((y - self.target_mean) / self.target_std).astype(np.float32),
            )

    def transform_inputs(self, raw: np.ndarray) -> np.ndarray:
        return ((raw - self.feature_mean) / self.feature_std).astype(np.float32)

    def inverse_transform_targets(self, scaled: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """Scaled targets or predictions back in the original units."""
        return scaled * self.target_std + self.target_mean

    def to_tensors(self, inputs: np.ndarray, targets: np.ndarray) -> tuple[torch.Tensor, ...]:
        return torch.from_numpy(np.ascontiguousarray(inputs)), torch.from_numpy(np.ascontiguousarray(targets))
