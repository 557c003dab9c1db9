"""The split-and-serve logic shared by the template's in-memory datamodules."""

from __future__ import annotations

import lightning.pytorch as pl
import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from sklearn.model_selection import train_test_split

from lightning_hydra_template.config.errors import ConfigError
from lightning_hydra_template.config.validation import Check, check_fields, is_int, is_number
from lightning_hydra_template.data.in_memory import InMemoryLoader

FULL_BATCH = "full"
# on_device=auto copies a split to the GPU when it takes at most this share of the GPU's free memory
# (the rest is for the model, its activations and the optimizer).
DEVICE_MEMORY_SHARE = 0.25


def place_on_device(on_device: bool | str, tensors: tuple[torch.Tensor, ...], device: torch.device) -> bool:
    """Whether to keep ``tensors`` on ``device`` for the whole run (``on_device``: true, false or auto)."""
    if on_device != "auto":
        return bool(on_device)
    if device.type != "cuda":
        return device.type != "cpu"  # mps and others: no cheap free-memory query, the data is small
    free, _ = torch.cuda.mem_get_info(device)
    return sum(t.numel() * t.element_size() for t in tensors) <= DEVICE_MEMORY_SHARE * free


def split_indices(
    num_samples: int,
    val_fraction: float,
    test_fraction: float,
    seed: int,
    stratify: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Deterministic train/val/test index split; stratified by ``stratify`` labels when given."""
    indices = np.arange(num_samples)
    rest, test = (
        train_test_split(indices, test_size=test_fraction, random_state=seed, stratify=stratify)
        if test_fraction > 0
        else (indices, indices[:0])
    )
    val_share = val_fraction / (1.0 - test_fraction)
    rest_labels = None if stratify is None else stratify[rest]
    train, val = (
        train_test_split(rest, test_size=val_share, random_state=seed, stratify=rest_labels)
        if val_fraction > 0
        else (rest, rest[:0])
    )
    return {"train": np.sort(train), "val": np.sort(val), "test": np.sort(test)}


class InMemoryDataModule(pl.LightningDataModule):
    """Loads a whole dataset as tensors, splits it once and serves batches by slicing.

    Subclasses implement :meth:`load_arrays` (and :meth:`fit_transforms` for statistics that
    must come from the training split only), and extend :meth:`check_config` for their own fields.
    """

    stratified = False

    @classmethod
    def check_config(cls, config: DictConfig) -> None:
        """Before the run starts: the ``data.*`` fields every in-memory datamodule takes.

        Called with the whole run config (see config/validation.py); raises ``ConfigError``.
        """
        check_fields(
            config,
            [
                Check(
                    "data.batch_size",
                    lambda v: (is_int(v) and v >= 1) or v == FULL_BATCH,
                    'an integer >= 1, or "full" for the whole training split',
                ),
                Check(
                    "data.eval_batch_size", lambda v: is_int(v) and v >= 1, "an integer >= 1 (or null)", True
                ),
                Check(
                    "data.val_fraction",
                    lambda v: is_number(v) and 0 < v < 1,
                    "a number between 0 and 1 (exclusive)",
                ),
                Check("data.test_fraction", lambda v: is_number(v) and 0 <= v < 1, "a number in [0, 1)"),
                Check("data.drop_last", lambda v: isinstance(v, bool), "true or false"),
                Check("data.shuffle", lambda v: isinstance(v, bool), "true or false"),
                Check("data.on_device", lambda v: v in (True, False, "auto"), "auto, true or false", True),
            ],
        )
        val = OmegaConf.select(config, "data.val_fraction", default=None)
        test = OmegaConf.select(config, "data.test_fraction", default=None)
        if is_number(val) and is_number(test) and val + test >= 1:
            raise ConfigError(
                "data.val_fraction",
                f"val_fraction {val} + test_fraction {test} = {val + test:g} leaves no training data; "
                "their sum must be < 1",
            )

    def __init__(
        self,
        batch_size: int | str = 64,
        val_fraction: float = 0.15,
        test_fraction: float = 0.15,
        split_seed: int = 0,
        drop_last: bool = False,
        shuffle: bool = True,
        eval_batch_size: int | None = None,
        shuffle_seed: int | None = 0,
        on_device: bool | str = "auto",
    ) -> None:
        super().__init__()
        self.batch_size = batch_size
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction
        self.split_seed = split_seed
        self.drop_last = drop_last
        self.shuffle = shuffle
        self.eval_batch_size = eval_batch_size
        self.shuffle_seed = shuffle_seed or 0
        self.on_device = on_device
        self.splits: dict[str, tuple[torch.Tensor, ...]] = {}
        self.indices: dict[str, np.ndarray] = {}
        self._placed: dict[str, tuple[torch.Tensor, ...]] = {}  # splits copied to the accelerator

    # --- to implement -------------------------------------------------------------------------
    def load_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """All samples as ``(inputs, targets)`` numpy arrays."""
        raise NotImplementedError

    def to_tensors(self, inputs: np.ndarray, targets: np.ndarray) -> tuple[torch.Tensor, ...]:
        return torch.as_tensor(inputs), torch.as_tensor(targets)

    def fit_transforms(self, splits: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
        """Hook for scaling fitted on the training split; modifies ``splits`` in place."""

    def transform_inputs(self, raw: np.ndarray) -> np.ndarray:
        """New inputs, shaped and scaled like :meth:`load_arrays`' inputs, as the model sees them
        (``make predict input=x.npy``): the input half of :meth:`fit_transforms`, after :meth:`setup`."""
        return raw

    # --- Lightning hooks --------------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        inputs, targets = self.load_arrays()
        index = split_indices(
            len(inputs),
            self.val_fraction,
            self.test_fraction,
            self.split_seed,
            stratify=targets if self.stratified else None,
        )
        self.indices = index  # positions in the full dataset, kept for inspection and tests
        arrays = {name: (inputs[idx], targets[idx]) for name, idx in index.items()}
        self.fit_transforms(arrays)
        self.splits = {name: self.to_tensors(*pair) for name, pair in arrays.items()}

    @property
    def input_shape(self) -> tuple[int, ...]:
        """One sample's shape, e.g. ``(1, 8, 8)``: the model's input size is taken from it."""
        self.setup()
        return tuple(self.splits["train"][0].shape[1:])

    def num_samples(self, split: str) -> int:
        self.setup()
        return int(self.splits[split][0].shape[0])

    def resolve_batch_size(self, world_size: int = 1) -> int:
        """The per-device training batch size, with ``"full"`` resolved to the training split size."""
        if self.batch_size == FULL_BATCH:
            return max(1, self.num_samples("train") // world_size)
        return int(self.batch_size)

    def resolve_eval_batch_size(self, world_size: int = 1) -> int:
        """Validation/test batch size: no gradients are kept, so it defaults to at least 256."""
        return int(self.eval_batch_size or max(self.resolve_batch_size(world_size), 256))

    def _world_size(self) -> int:
        trainer = getattr(self, "trainer", None)
        return trainer.world_size if trainer is not None else 1

    def _served(self, split: str) -> tuple[tuple[torch.Tensor, ...], bool]:
        """The split's tensors as the loader should serve them, and whether to pin them.

        On an accelerator, a split that fits (see ``on_device``) is copied there once and every batch
        is a slice of device memory: no host-to-device copy per step. Otherwise batches come from
        pinned host memory and the Trainer copies them without blocking.
        """
        self.setup()
        trainer = getattr(self, "trainer", None)
        device = trainer.strategy.root_device if trainer is not None else torch.device("cpu")
        tensors = self.splits[split]
        if device.type == "cpu":
            return tensors, False
        if split not in self._placed and place_on_device(self.on_device, tensors, device):
            self._placed[split] = tuple(t.to(device) for t in tensors)
        if split in self._placed:
            return self._placed[split], False
        return tensors, device.type == "cuda"

    def _loader(self, split: str, train: bool) -> InMemoryLoader:
        self.setup()
        tensors, pin_memory = self._served(split)
        trainer = getattr(self, "trainer", None)
        rank = trainer.global_rank if trainer is not None else 0
        world_size = self._world_size()
        batch_size = (
            self.resolve_batch_size(world_size) if train else self.resolve_eval_batch_size(world_size)
        )
        return InMemoryLoader(
            tensors,
            batch_size=batch_size,
            shuffle=train and self.shuffle,
            drop_last=train and self.drop_last,
            seed=self.shuffle_seed,
            rank=rank,
            world_size=world_size,
            even_shards=train,
            pin_memory=pin_memory,
        )

    def train_dataloader(self) -> InMemoryLoader:
        return self._loader("train", train=True)

    def val_dataloader(self) -> InMemoryLoader:
        return self._loader("val", train=False)

    def test_dataloader(self) -> InMemoryLoader:
        return self._loader("test", train=False)

    def predict_dataloader(self) -> InMemoryLoader:
        return self._loader("test", train=False)
