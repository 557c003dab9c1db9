"""A tiny generated image folder for tests: overrides that point ``data=image_folder`` at it."""

from __future__ import annotations

from pathlib import Path


def tiny_image_folder(directory: Path, per_class: int = 12, size: int = 16, workers: int = 0) -> list[str]:
    """Overrides for ``data=image_folder`` on a few ``size`` x ``size`` PNGs of 3 classes under ``directory``
    (written on first use by the datamodule itself, as ``experiment=image_folder`` does)."""
    return [
        "data=image_folder",
        f"data.root={directory / 'images'}",
        f"data.generate={{images_per_class: {per_class}, image_size: {size}, classes: [circle, square, cross]}}",
        f"data.crop_size={size}",
        "data.batch_size=8",
        f"data.num_workers={workers}",
    ]
