"""Image files on disk: finding them in class folders, and a dataset that decodes and transforms them
(in ``DataLoader`` workers when there are any)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from lightning_hydra_template.config.errors import ConfigError, UserError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
SPLITS = ("train", "val", "test")


@dataclass
class ImageList:
    """Files and their class indices."""

    files: list[str]
    targets: list[int]

    def subset(self, indices: Sequence[int]) -> ImageList:
        return ImageList([self.files[i] for i in indices], [self.targets[i] for i in indices])


def images_in(folder: Path) -> list[Path]:
    """The image files under ``folder`` (sub-folders included), sorted."""
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def class_folders(folder: Path, field: str = "data.root") -> list[str]:
    """The class names under ``folder``: its sub-folders, sorted, each holding at least one image."""
    names = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(names) < 2:
        raise ConfigError(
            field,
            f"{folder} has {len(names)} class folder(s); allowed: a folder with one sub-folder of images "
            "per class (at least 2), e.g. <root>/cat/*.png and <root>/dog/*.png",
        )
    for name in names:
        if not images_in(folder / name):
            raise ConfigError(field, f"{folder / name} holds no {'/'.join(IMAGE_SUFFIXES)} images")
    return names


def list_images(folder: Path, class_names: Sequence[str], field: str = "data.root") -> ImageList:
    """Every image under ``folder/<class>/`` (sub-folders included), labelled by ``class_names``' order."""
    unknown = sorted(
        p.name
        for p in folder.iterdir()
        if p.is_dir() and not p.name.startswith(".") and p.name not in class_names
    )
    if unknown:
        raise ConfigError(field, f"{folder} has class folder(s) {unknown} that the training split lacks")
    files: list[str] = []
    targets: list[int] = []
    for index, name in enumerate(class_names):
        found = images_in(folder / name) if (folder / name).is_dir() else []
        files += [str(p) for p in found]
        targets += [index] * len(found)
    return ImageList(files, targets)


def split_folders(root: Path) -> dict[str, Path]:
    """``train/``, ``val/``, ``test/`` sub-folders of ``root`` that exist (empty when ``root`` holds classes)."""
    if not (root / "train").is_dir():
        return {}
    return {split: root / split for split in SPLITS if (root / split).is_dir()}


class ImageFiles(Dataset):
    """Decodes an image file to a ``uint8`` RGB tensor ``(3, H, W)`` and applies ``transform``.

    Keys are an index, or an ``(index, seed)`` pair from :class:`EpochSampler`: the transform's random
    draws (crops, flips, jitter) then come from a generator seeded for that sample of that epoch, so
    they do not depend on which worker decodes it or on a resume. ``torchvision.transforms.v2`` draws
    from torch's generator, which is seeded here and restored afterwards.
    """

    def __init__(self, images: ImageList, transform: Callable[[Any], Any] | None = None) -> None:
        self.images = images
        self.transform = transform

    def __len__(self) -> int:
        return len(self.images.files)

    def load(self, index: int) -> torch.Tensor:
        from torchvision.io import ImageReadMode, decode_image
        from torchvision.tv_tensors import Image

        path = self.images.files[index]
        try:
            return Image(decode_image(path, mode=ImageReadMode.RGB))
        except (RuntimeError, OSError) as err:  # torchvision raises RuntimeError for bytes it cannot decode
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise UserError(
                f"data.root: {path} cannot be read as an image ({reason}); allowed: "
                f"{'/'.join(IMAGE_SUFFIXES)} files that decode: replace or remove it"
            ) from None

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor, int]:
        index, seed = key if isinstance(key, tuple) else (key, None)
        image = self.load(index)
        if self.transform is not None:
            if seed is None:
                image = self.transform(image)
            else:
                with torch.random.fork_rng(devices=[]):
                    torch.default_generator.manual_seed(seed)  # CPU only: torch.manual_seed costs ~0.2 ms
                    image = self.transform(image)
        return image.as_subclass(torch.Tensor), self.images.targets[index]
