"""A trained model rebuilt from its checkpoint alone: network with weights, datamodule with its preprocessing."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lightning_hydra_template.runs.checkpoint import load_checkpoint, rebuild_model, training_config


@dataclass
class TrainedModel:
    model: Any  # the LightningModule, in eval mode
    datamodule: Any  # built from the checkpoint's config; set up lazily by who needs its splits
    config: dict[str, Any]  # the resolved training config the checkpoint carries
    checkpoint: Path
    sha256: str

    @property
    def kind(self) -> str:
        return getattr(self.model, "prediction_kind", "values")

    def class_names(self, num_classes: int) -> list[str]:
        """Names from the model (stored in its hyperparameters) or the datamodule, else "0", "1", ..."""
        for owner in (self.model, self.datamodule):
            names = getattr(owner, "class_names", None)
            if names is not None and len(names) == num_classes:
                return [str(n) for n in names]
        return [str(i) for i in range(num_classes)]


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_trained(path: str | Path) -> TrainedModel:
    """Load ``path`` safely (``weights_only``) and rebuild its model and datamodule from the config inside."""
    from hydra.utils import instantiate

    checkpoint = load_checkpoint(path)
    config = training_config(checkpoint, path)
    model = rebuild_model(checkpoint, config, path)
    model.eval()
    datamodule = instantiate(config["data"])
    data_state = checkpoint.get(type(datamodule).__qualname__)  # where Lightning saves a datamodule's state
    if data_state:  # e.g. a table's encoding, fitted when training: reused, not refitted
        datamodule.load_state_dict(data_state)
    return TrainedModel(model, datamodule, config, Path(path), file_sha256(path))
