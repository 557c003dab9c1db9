"""MNIST and Fashion-MNIST through torchvision: downloaded once into ``root``, checksums verified, reused.

Which mirrors are tried and which MD5 checksums the downloaded ``.gz`` files must have come from the config:
a subclass of torchvision's dataset class carries them, so torchvision's own class is never modified.
The official 10,000 test images are the test split; validation is a stratified share of the 60,000
training images. Pixels are scaled to [0, 1] once, shape (N, 1, 28, 28).

Bad options are reported from ``check_config`` and ``setup``, not the constructor: Hydra's ``instantiate``
wraps a constructor's exceptions, which would turn the one-line error into a traceback.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lightning_hydra_template.config.errors import ConfigError
from lightning_hydra_template.config.validation import Check, check_fields
from lightning_hydra_template.data.base import InMemoryDataModule, split_indices

DATASETS = ("mnist", "fashion_mnist")
# the config's names for torchvision's four files, in the order of its ``resources`` list
FILE_ROLES = ("train_images", "train_labels", "test_images", "test_labels")


def check_options(dataset: Any, mirrors: Any, md5: Any) -> None:
    if dataset not in DATASETS:
        raise ConfigError("data.dataset", f"got {dataset!r}; allowed: {', '.join(DATASETS)}")
    if not mirrors or isinstance(mirrors, str) or not all(isinstance(m, str) and "://" in m for m in mirrors):
        raise ConfigError(
            "data.mirrors", f"got {mirrors!r}; allowed: a list of URL prefixes such as [https://host/mnist/]"
        )
    if md5 is not None:
        unknown = sorted(set(md5) - set(FILE_ROLES)) if isinstance(md5, Mapping) else [repr(md5)]
        if unknown:
            raise ConfigError(
                "data.md5",
                f"unknown {', '.join(unknown)}; allowed: null or keys among {', '.join(FILE_ROLES)}",
            )


def dataset_class(dataset: str, mirrors: Sequence[str], md5: Mapping[str, str] | None = None) -> type[Any]:
    """torchvision's class for ``dataset`` with these mirrors and checksums (unlisted files keep torchvision's).

    The subclass keeps its parent's name: torchvision stores the files under ``root/<class name>/raw``.
    """
    from torchvision.datasets import MNIST, FashionMNIST

    parent = {"mnist": MNIST, "fashion_mnist": FashionMNIST}[dataset]
    md5 = dict(md5 or {})
    resources = [
        (file, md5.get(role, checksum))
        for role, (file, checksum) in zip(FILE_ROLES, parent.resources, strict=True)
    ]
    mirrors = [m if m.endswith("/") else m + "/" for m in mirrors]
    return type(parent.__name__, (parent,), {"mirrors": mirrors, "resources": resources})


@contextlib.contextmanager
def exclusive(lock_file: Path) -> Iterator[None]:
    """One process at a time (several DDP ranks may start the same download); a no-op without fcntl."""
    try:
        import fcntl
    except ImportError:  # Windows
        yield
        return
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_file, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def load_official_splits(cls: type[Any], root: Path, download: bool) -> tuple[Any, Any]:
    """The training and test sets, downloading the four files first if needed and allowed."""
    raw = root / cls.__name__ / "raw"
    try:
        with exclusive(root / f".{cls.__name__}.lock"):
            train = cls(str(root), train=True, download=download)
        return train, cls(str(root), train=False, download=False)
    except RuntimeError as err:
        if not download:
            raise ConfigError(
                "data.download",
                f"no {cls.__name__} files in {raw}; allowed: data.download=true, or the four files placed there",
            ) from None
        # torchvision: "Error downloading <file>:", then "Tried <mirror>, got:" and the error, per mirror
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        what = lines[0].rstrip(":").lower() if lines else "download failed"
        why = lines[-1] if len(lines) > 1 else type(err).__name__
        hint = " (a checksum mismatch: see data.md5)" if "corrupted" in why else ""
        raise ConfigError(
            "data.mirrors",
            f"{what} from {', '.join(cls.mirrors)}: {why}{hint}; "
            f"allowed: reachable mirrors, or the files placed in {raw}",
        ) from None


class MnistDataModule(InMemoryDataModule):
    """28x28 grey images of 10 classes; ``class_names`` come from torchvision's dataset class."""

    stratified = True
    num_classes = 10
    input_shape = (1, 28, 28)  # one image: the model's input size follows from it

    def __init__(
        self,
        root: str = "data",
        dataset: str = "mnist",
        download: bool = True,
        mirrors: Sequence[str] = ("https://ossci-datasets.s3.amazonaws.com/mnist/",),
        md5: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs["test_fraction"] = 0.0  # the official test set is the test split
        super().__init__(**kwargs)
        self.root = Path(root)
        self.dataset = dataset
        self.download = download
        self.mirrors = mirrors
        self.md5 = md5
        self.class_names: list[str] = []

    @classmethod
    def check_config(cls, config: Any) -> None:
        """Early checks on the run config: dataset name, mirrors, checksums."""
        inherited = getattr(super(), "check_config", None)  # the in-memory fields, where the base checks them
        if inherited is not None:
            inherited(config)
        check_fields(config, [Check("data.download", lambda v: isinstance(v, bool), "true or false")])
        data = config.data
        check_options(data.get("dataset"), data.get("mirrors"), data.get("md5"))

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        check_options(self.dataset, self.mirrors, self.md5)
        cls = dataset_class(self.dataset, list(self.mirrors), dict(self.md5 or {}))
        train, test = load_official_splits(cls, self.root, self.download)
        self.class_names = list(cls.classes)
        images, labels = _arrays(train)
        index = split_indices(len(labels), self.val_fraction, 0.0, self.split_seed, stratify=labels)
        self.indices = {"train": index["train"], "val": index["val"], "test": np.arange(len(test))}
        self.splits = {
            "train": self.to_tensors(images[index["train"]], labels[index["train"]]),
            "val": self.to_tensors(images[index["val"]], labels[index["val"]]),
            "test": self.to_tensors(*_arrays(test)),
        }

    def to_tensors(self, inputs: np.ndarray, targets: np.ndarray) -> tuple[torch.Tensor, ...]:
        return torch.from_numpy(np.ascontiguousarray(inputs)), torch.from_numpy(np.ascontiguousarray(targets))


def _arrays(dataset: Any) -> tuple[np.ndarray, np.ndarray]:
    """torchvision's uint8 images as float32 in [0, 1] with a channel axis, and int64 labels."""
    images = (dataset.data.numpy().astype(np.float32) / 255.0)[:, None, :, :]
    return images, dataset.targets.numpy().astype(np.int64)
