"""Images in class folders on disk: ``<root>/<class>/*.png|jpg``, or ``<root>/{train,val,test}/<class>/...``.

Files are decoded and augmented in ``DataLoader`` workers. The training loader is a ``torchdata``
``StatefulDataLoader`` over an :class:`EpochSampler`, so a checkpoint holds the position inside the
epoch and a resumed run continues with the same samples and the same random augmentation.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from torch.utils.data import DataLoader

from lightning_hydra_template.config.errors import ConfigError
from lightning_hydra_template.config.validation import Check, check_fields, is_int, is_number
from lightning_hydra_template.data.base import split_indices
from lightning_hydra_template.data.epoch_sampler import EpochSampler
from lightning_hydra_template.data.generated_images import write_dataset
from lightning_hydra_template.data.image_files import (
    IMAGE_SUFFIXES,
    ImageFiles,
    ImageList,
    class_folders,
    images_in,
    list_images,
    split_folders,
)

Transform = Callable[[Any], Any]


def _compose(transforms: Transform | Sequence[Transform] | None) -> Transform | None:
    if transforms is None or callable(transforms):
        return transforms
    from torchvision.transforms import v2

    return v2.Compose(list(transforms))


class ImageFolderDataModule(pl.LightningDataModule):
    """Class names are the sorted folder names. Without ``train/`` ``val/`` ``test/`` sub-folders the
    images are split by ``val_fraction`` / ``test_fraction``, stratified and seeded by ``split_seed``;
    with a ``train/`` folder only, the missing splits are carved from it the same way.

    After :meth:`setup`: ``class_names``, ``num_classes`` and ``input_shape`` (``(3, H, W)`` after the
    evaluation transforms) tell the model what to expect.
    """

    @classmethod
    def check_config(cls, config: Any) -> None:
        """Before the run starts: the ``data.*`` fields of this datamodule (raises ``ConfigError``)."""
        check_fields(
            config,
            [
                Check("data.batch_size", lambda v: is_int(v) and v >= 1, "an integer >= 1"),
                Check(
                    "data.eval_batch_size", lambda v: is_int(v) and v >= 1, "an integer >= 1 (or null)", True
                ),
                Check("data.val_fraction", lambda v: is_number(v) and 0 <= v < 1, "a number in [0, 1)"),
                Check("data.test_fraction", lambda v: is_number(v) and 0 <= v < 1, "a number in [0, 1)"),
                Check("data.shuffle", lambda v: isinstance(v, bool), "true or false"),
                Check("data.drop_last", lambda v: isinstance(v, bool), "true or false"),
                Check("data.num_workers", lambda v: is_int(v) and v >= 0, "an integer >= 0"),
                Check("data.persistent_workers", lambda v: isinstance(v, bool), "true or false"),
                Check("data.pin_memory", lambda v: v in (True, False, "auto"), "auto, true or false"),
                Check(
                    "data.prefetch_factor", lambda v: is_int(v) and v >= 1, "an integer >= 1 (or null)", True
                ),
                Check("data.crop_size", lambda v: is_int(v) and v >= 1, "an integer >= 1 (or null)", True),
                Check(
                    "data.root", lambda v: isinstance(v, str) and v != "", "the folder of class folders"
                ),  # last: the shipped option leaves it null
            ],
        )

    def __init__(
        self,
        root: str | None = None,
        train_transforms: Transform | Sequence[Transform] | None = None,
        eval_transforms: Transform | Sequence[Transform] | None = None,
        batch_size: int = 64,
        eval_batch_size: int | None = None,
        val_fraction: float = 0.15,
        test_fraction: float = 0.15,
        split_seed: int = 0,
        shuffle: bool = True,
        shuffle_seed: int | None = 0,
        drop_last: bool = False,
        num_workers: int = 2,
        persistent_workers: bool = True,
        pin_memory: bool | str = "auto",
        prefetch_factor: int | None = 2,
        generate: Mapping[str, Any] | None = None,
        crop_size: int | None = None,
    ) -> None:
        super().__init__()
        if not root:
            raise ConfigError(
                "data.root", "required: the folder of class folders, e.g. data.root=/path/to/images"
            )
        if not isinstance(num_workers, int) or num_workers < 0:
            raise ConfigError("data.num_workers", f"got {num_workers!r}; allowed: an integer >= 0")
        self.root = Path(root).expanduser()
        self.train_transforms = _compose(train_transforms)
        self.eval_transforms = _compose(eval_transforms)
        self.batch_size = int(batch_size)
        self.eval_batch_size = int(eval_batch_size or batch_size)
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction
        self.split_seed = split_seed
        self.shuffle = shuffle
        self.shuffle_seed = shuffle_seed or 0
        self.drop_last = drop_last
        self.num_workers = num_workers
        self.persistent_workers = persistent_workers
        self.pin_memory = pin_memory
        self.prefetch_factor = prefetch_factor
        self.generate = dict(generate) if generate else None
        self.crop_size = crop_size  # for the transforms' config; the shape comes from the transforms
        self.class_names: list[str] = []
        self.images: dict[str, ImageList] = {}
        self.datasets: dict[str, ImageFiles] = {}
        self.input_shape: tuple[int, ...] = ()

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    # --- files ------------------------------------------------------------------------------
    def prepare_data(self) -> None:
        """Write the generated dataset when ``generate`` is set and ``root`` does not hold it yet."""
        if self.generate is not None:
            write_dataset(self.root, **self.generate)

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        self.prepare_data()  # train() sets up the data before the Trainer would call prepare_data
        if not self.root.is_dir():
            raise ConfigError(
                "data.root",
                f"{self.root} is not a folder; allowed: a folder with one sub-folder of images per class",
            )
        self.images = self._split()
        self.datasets = {
            split: ImageFiles(images, self.train_transforms if split == "train" else self.eval_transforms)
            for split, images in self.images.items()
        }
        self.input_shape = self._check_transforms()

    def _split(self) -> dict[str, ImageList]:
        folders = split_folders(self.root)
        source = folders.get("train", self.root)
        field = "data.root"
        self.class_names = class_folders(source, field)
        pool = list_images(source, self.class_names, field)
        missing = [s for s in ("val", "test") if s not in folders]
        fractions = {
            "val": self.val_fraction if "val" in missing else 0.0,
            "test": self.test_fraction if "test" in missing else 0.0,
        }
        index = split_indices(
            len(pool.files),
            fractions["val"],
            fractions["test"],
            self.split_seed,
            stratify=np.asarray(pool.targets),
        )
        images = {split: pool.subset(index[split].tolist()) for split in ("train", "val", "test")}
        for split in ("val", "test"):
            if split in folders:
                images[split] = list_images(folders[split], self.class_names, field)
        return images

    def _check_transforms(self) -> tuple[int, ...]:
        """The per-sample input shape; one line of error when the transforms cannot make a batch."""
        train = self.datasets["train"]
        evaluated = ImageFiles(train.images, self.eval_transforms)
        eval_image = evaluated[(0, 0)][0]
        if not eval_image.is_floating_point():
            raise ConfigError(
                "data.eval_transforms",
                f"they give {eval_image.dtype} images; allowed: transforms ending in float tensors "
                "(add torchvision.transforms.v2.ToDtype with scale: true, then Normalize)",
            )
        train_image = train[(0, 0)][0]
        if train_image.shape != eval_image.shape or not train_image.is_floating_point():
            raise ConfigError(
                "data.train_transforms",
                f"they give {train_image.dtype} images of shape {tuple(train_image.shape)}, the evaluation "
                f"transforms {eval_image.dtype} {tuple(eval_image.shape)}; allowed: the same size and a float type",
            )
        return tuple(eval_image.shape)

    # --- loaders ----------------------------------------------------------------------------
    def loader_options(self) -> dict[str, Any]:
        """DataLoader worker settings, with pin_memory=auto resolved for the device."""
        trainer = getattr(self, "trainer", None)
        pin = self.pin_memory
        if pin == "auto":
            pin = trainer is not None and trainer.strategy.root_device.type == "cuda"
        options: dict[str, Any] = {"num_workers": self.num_workers, "pin_memory": bool(pin)}
        if self.num_workers > 0:
            options["persistent_workers"] = self.persistent_workers
            options["prefetch_factor"] = self.prefetch_factor
        return options

    def train_dataloader(self) -> Any:
        from torchdata.stateful_dataloader import StatefulDataLoader

        self.setup()
        trainer = getattr(self, "trainer", None)
        sampler = EpochSampler(
            len(self.datasets["train"]),
            shuffle=self.shuffle,
            seed=self.shuffle_seed,
            rank=trainer.global_rank if trainer is not None else 0,
            world_size=trainer.world_size if trainer is not None else 1,
            batch_size=self.batch_size,
            drop_last=self.drop_last,
        )
        with warnings.catch_warnings():  # torchdata 0.11 calls a deprecated torch function
            warnings.filterwarnings("ignore", message=".*set_vital.*")
            return StatefulDataLoader(
                self.datasets["train"],
                batch_size=self.batch_size,
                sampler=sampler,
                drop_last=self.drop_last,
                # worker seeds drawn from here, not from the global generator that dropout uses
                generator=torch.Generator().manual_seed(self.shuffle_seed),
                **self.loader_options(),
            )

    def _eval_loader(self, split: str) -> DataLoader:
        self.setup()
        return DataLoader(
            self.datasets[split],
            batch_size=self.eval_batch_size,
            # its worker seeds too: a resumed run starts these workers once more than an uninterrupted one
            generator=torch.Generator().manual_seed(self.shuffle_seed),
            **self.loader_options(),
        )

    def val_dataloader(self) -> DataLoader:
        return self._eval_loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._eval_loader("test")

    def predict_dataloader(self) -> DataLoader:
        return self._eval_loader("test")

    def state_dict(self) -> dict[str, Any]:
        """Stored in checkpoints: the class names, in label order, and the input shape the network takes."""
        return {"class_names": list(self.class_names), "input_shape": list(self.input_shape)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("class_names"):
            self.class_names = [str(name) for name in state["class_names"]]
        if state.get("input_shape"):
            self.input_shape = tuple(int(side) for side in state["input_shape"])

    # --- make predict ----------------------------------------------------------------------------
    def prediction_ids(self, split: str) -> list[str]:
        """The file of each sample of ``split``, in loader order."""
        self.setup()
        return list(self.images[split].files)

    def prediction_inputs(self, path: Path) -> tuple[list[str], ImageFiles]:
        """``make predict input=<folder or image>``: every image under it (sub-folders included), decoded
        and prepared by the evaluation transforms; ids are the paths below ``path``. Needs no training files."""
        path = Path(path)
        files = [path] if path.is_file() else images_in(path)
        if not files or files[0].suffix.lower() not in IMAGE_SUFFIXES:
            raise ConfigError(
                "input",
                f"{path} holds no {'/'.join(IMAGE_SUFFIXES)} images; allowed: a folder of images "
                "(sub-folders included) or one image file",
            )
        ids = [file.name if file == path else str(file.relative_to(path)) for file in files]
        return ids, ImageFiles(ImageList([str(f) for f in files], [0] * len(files)), self.eval_transforms)

    def prepare_image(self, encoded: bytes) -> torch.Tensor:
        """One PNG or JPEG file's bytes as the network's input ``(C, H, W)``, by the evaluation transforms
        (any size: they resize and crop); raises ``ValueError`` for bytes that are not such an image."""
        from torchvision.io import ImageReadMode, decode_image
        from torchvision.tv_tensors import Image

        try:
            image = decode_image(
                torch.frombuffer(bytearray(encoded), dtype=torch.uint8), mode=ImageReadMode.RGB
            )
        except RuntimeError as err:
            raise ValueError(f"not a PNG or JPEG image ({str(err).splitlines()[0][:80]})") from None
        prepared = self.eval_transforms(Image(image)) if self.eval_transforms is not None else Image(image)
        return prepared.as_subclass(torch.Tensor)
