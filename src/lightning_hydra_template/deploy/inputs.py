"""What to predict on: the checkpoint's test split, or new inputs from a file, prepared as in training.

A datamodule decides how its inputs are read and scaled. The template's in-memory datamodules read a
``.npy`` array shaped like the inputs of their ``load_arrays`` and scale it with ``transform_inputs``.
A datamodule can read other files (a CSV table, a folder of images) by defining
``prediction_inputs(path) -> (ids, inputs)``, inputs a tensor or a dataset of ``(input, ...)`` samples. It
is called on the datamodule restored from the checkpoint, without ``setup()``: predicting needs no
training files. ``prediction_ids(split)`` names the samples of a split (e.g. their files).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from lightning_hydra_template.config.errors import ConfigError


@dataclass
class PredictionInputs:
    ids: list[str]  # one per sample: a position in the split or file, or a file name
    inputs: torch.Tensor | Dataset  # as the model takes them, or a dataset of (input, ...) samples
    source: str  # where they came from, for the report

    def tensor(self) -> torch.Tensor:
        """The inputs as one tensor (held-out inputs always are one)."""
        if not isinstance(self.inputs, torch.Tensor):
            raise TypeError(f"inputs from {self.source} are a dataset, read in batches, not one tensor")
        return self.inputs


def sample_shape(datamodule: Any) -> tuple[int, ...]:
    """The shape of one model input: the datamodule's ``input_shape``, else that of the first test batch."""
    shape = getattr(datamodule, "input_shape", None)
    if shape:
        return tuple(int(side) for side in shape)
    inputs = held_out_inputs(datamodule, limit=1).tensor()
    return tuple(inputs.shape[1:])


def held_out_inputs(datamodule: Any, limit: int | None = None) -> PredictionInputs:
    """The test split the checkpoint was evaluated on; ids are positions in the full dataset when known."""
    datamodule.setup("test")
    splits = getattr(datamodule, "splits", None)
    if splits and "test" in splits:
        inputs = splits["test"][0]
        positions = getattr(datamodule, "indices", {}).get("test")
        ids = (
            [str(int(i)) for i in positions]
            if positions is not None
            else [str(i) for i in range(len(inputs))]
        )
    else:  # any LightningDataModule: read its test loader
        batches, total = [], 0
        for batch in datamodule.test_dataloader():
            first = batch[0] if isinstance(batch, (tuple, list)) else batch["inputs"]
            batches.append(first)
            total += len(first)
            if limit is not None and total >= limit:
                break
        inputs = torch.cat(batches)
        named = getattr(datamodule, "prediction_ids", None)
        ids = named("test")[: len(inputs)] if named else [str(i) for i in range(len(inputs))]
    if limit is not None:
        inputs, ids = inputs[:limit], ids[:limit]
    return PredictionInputs(ids, inputs, "test split")


def read_inputs(datamodule: Any, path: str | Path) -> PredictionInputs:
    """New inputs from ``path``, prepared by the datamodule exactly as its training inputs were."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(
            "input", f"no file or folder at {path}; allowed: a .npy array, a .csv table or an image folder"
        )
    reader = getattr(datamodule, "prediction_inputs", None)
    if reader is not None:
        ids, inputs = reader(path)
        inputs = inputs if isinstance(inputs, Dataset) else torch.as_tensor(inputs)
        return PredictionInputs(list(map(str, ids)), inputs, str(path))
    datamodule.setup("test")
    if path.suffix != ".npy":
        raise ConfigError(
            "input",
            f"{path}: {type(datamodule).__name__} reads .npy arrays only; allowed: a .npy file of inputs shaped "
            "like its training inputs",
        )
    return PredictionInputs(*prepare_array(datamodule, np.load(path, allow_pickle=False), path.name))


def prepare_array(
    datamodule: Any, raw: np.ndarray, name: str = "input"
) -> tuple[list[str], torch.Tensor, str]:
    """Check the shape of raw samples against the training inputs and scale them like training did."""
    expected = sample_shape(datamodule)
    raw = np.asarray(raw)
    if raw.ndim == len(expected):  # one sample
        raw = raw[None]
    if tuple(raw.shape[1:]) != expected:
        raise ConfigError(
            "input",
            f"{name}: samples of shape {tuple(raw.shape[1:])}; allowed: shape {expected} per sample "
            f"(an array of shape (N, {', '.join(map(str, expected))}))",
        )
    if not np.issubdtype(raw.dtype, np.number):
        raise ConfigError("input", f"{name}: values of type {raw.dtype}; allowed: numbers")
    transform = getattr(datamodule, "transform_inputs", lambda x: x)
    prepared = np.ascontiguousarray(transform(raw.astype(np.float32)), dtype=np.float32)
    return [str(i) for i in range(len(prepared))], torch.from_numpy(prepared), name
