"""A procedurally generated segmentation dataset: shapes of several classes on a noisy background.

Every image holds ``min_shapes``..``max_shapes`` non-overlapping circles, squares and triangles of
random size, position and brightness (the same brightness range for every class, so the network must
learn shapes, not grey levels). The mask labels each pixel 0 (background), 1 (circle), 2 (square) or
3 (triangle). Everything is a pure function of the seed and the sizes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from lightning_hydra_template.config.errors import ConfigError
from lightning_hydra_template.config.validation import Check, check_fields, is_int, is_number
from lightning_hydra_template.data.base import InMemoryDataModule

CLASS_NAMES = ("background", "circle", "square", "triangle")
MAX_PLACEMENT_TRIES = 100


def shape_mask(kind: int, cy: float, cx: float, radius: float, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    """Boolean mask of one shape centred at (cy, cx) whose bounding box is 2 * radius wide."""
    dy, dx = yy - cy, xx - cx
    if kind == 1:
        return dy**2 + dx**2 <= radius**2
    if kind == 2:
        half = radius * 0.8  # about the area of the circle
        return (np.abs(dy) <= half) & (np.abs(dx) <= half)
    if kind == 3:  # apex up, base of width 2 * radius at the bottom of the box
        return (dy <= radius) & (np.abs(dx) <= (dy + radius) / 2)
    raise ValueError(f"unknown shape class {kind}")


def generate_shapes(
    num_samples: int,
    image_size: int = 32,
    min_shapes: int = 2,
    max_shapes: int = 4,
    min_radius: int = 3,
    max_radius: int = 7,
    noise: float = 0.1,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(N, 1, S, S)`` float32 in about [0, 1] and masks ``(N, S, S)`` int64."""
    if not 1 <= min_shapes <= max_shapes:
        raise ValueError(f"need 1 <= min_shapes <= max_shapes, got {min_shapes}, {max_shapes}")
    if not 1 <= min_radius <= max_radius or 2 * max_radius + 2 > image_size:
        raise ValueError(
            f"need 1 <= min_radius <= max_radius < image_size / 2, got {min_radius}, {max_radius}"
        )
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:image_size, 0:image_size].astype(np.float32)
    images = rng.normal(0.0, noise, size=(num_samples, 1, image_size, image_size)).astype(np.float32)
    masks = np.zeros((num_samples, image_size, image_size), dtype=np.int64)
    for i in range(num_samples):
        boxes: list[tuple[float, float, float, float]] = []
        for _ in range(int(rng.integers(min_shapes, max_shapes + 1))):
            for _ in range(MAX_PLACEMENT_TRIES):
                radius = float(rng.integers(min_radius, max_radius + 1))
                cy, cx = rng.uniform(radius, image_size - 1 - radius, size=2)
                box = (cy - radius - 1, cy + radius + 1, cx - radius - 1, cx + radius + 1)
                if all(box[1] < b[0] or b[1] < box[0] or box[3] < b[2] or b[3] < box[2] for b in boxes):
                    break
            else:
                continue  # no free room left for this shape
            boxes.append(box)
            kind = int(rng.integers(1, len(CLASS_NAMES)))
            inside = shape_mask(kind, cy, cx, radius, yy, xx)
            masks[i][inside] = kind
            images[i, 0][inside] += rng.uniform(0.5, 1.0)
    return images, masks


class ShapesDataModule(InMemoryDataModule):
    """Generated once in :meth:`setup` and held in memory; split deterministically like every datamodule."""

    num_classes = len(CLASS_NAMES)
    class_names = CLASS_NAMES

    @classmethod
    def check_config(cls, config: DictConfig) -> None:
        """The generator's sizes: enough samples, shapes that fit the image."""
        super().check_config(config)
        check_fields(
            config,
            [
                Check("data.num_samples", lambda v: is_int(v) and v >= 10, "an integer >= 10"),
                Check("data.image_size", lambda v: is_int(v) and v >= 8, "an integer >= 8"),
                Check("data.min_shapes", lambda v: is_int(v) and v >= 1, "an integer >= 1"),
                Check("data.min_radius", lambda v: is_int(v) and v >= 1, "an integer >= 1"),
                Check("data.noise", lambda v: is_number(v) and v >= 0, "a number >= 0"),
            ],
        )
        size = OmegaConf.select(config, "data.image_size", default=None)
        low, high = (OmegaConf.select(config, f"data.{k}_shapes", default=None) for k in ("min", "max"))
        if is_int(low) and is_int(high) and high < low:
            raise ConfigError(
                "data.max_shapes", f"got {high}; allowed: an integer >= data.min_shapes ({low})"
            )
        low, high = (OmegaConf.select(config, f"data.{k}_radius", default=None) for k in ("min", "max"))
        if is_int(size) and is_int(low) and is_int(high) and not (low <= high and 2 * high + 2 < size):
            raise ConfigError(
                "data.max_radius",
                f"got {high}; allowed: an integer >= data.min_radius ({low}) "
                f"with 2 * max_radius + 2 < image_size ({size})",
            )

    def __init__(
        self,
        num_samples: int = 1000,
        image_size: int = 32,
        min_shapes: int = 2,
        max_shapes: int = 4,
        min_radius: int = 3,
        max_radius: int = 7,
        noise: float = 0.1,
        data_seed: int = 0,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.generator_args: dict[str, Any] = {
            "num_samples": num_samples,
            "image_size": image_size,
            "min_shapes": min_shapes,
            "max_shapes": max_shapes,
            "min_radius": min_radius,
            "max_radius": max_radius,
            "noise": noise,
            "seed": data_seed,
        }

    def load_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        return generate_shapes(**self.generator_args)

    def to_tensors(self, inputs: np.ndarray, targets: np.ndarray) -> tuple[torch.Tensor, ...]:
        return torch.from_numpy(np.ascontiguousarray(inputs)), torch.from_numpy(np.ascontiguousarray(targets))
