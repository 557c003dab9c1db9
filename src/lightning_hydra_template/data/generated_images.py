"""A generated image-classification dataset written to disk as PNG files: one shape per image (circle,
triangle, square or cross) in a random colour, size, position and rotation, on a random shaded, noisy
background with a few small specks of clutter. Shapes are lighter than their background. The same seed writes the same files."""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from lightning_hydra_template.config.errors import ConfigError

SHAPE_NAMES = ("circle", "triangle", "square", "cross")
RECORD = "generated.json"  # the settings the folder was written with


def _inside_polygon(dy: np.ndarray, dx: np.ndarray, sides: int, radius: float, angle: float) -> np.ndarray:
    """Points within a regular polygon of circumradius ``radius`` rotated by ``angle``."""
    inside = np.ones(dy.shape, dtype=bool)
    apothem = radius * math.cos(math.pi / sides)
    for k in range(sides):
        normal = angle + (2 * k + 1) * math.pi / sides
        inside &= dx * math.cos(normal) + dy * math.sin(normal) <= apothem
    return inside


def shape_mask(name: str, dy: np.ndarray, dx: np.ndarray, radius: float, angle: float) -> np.ndarray:
    """Pixels inside shape ``name``; ``dy``, ``dx`` are each pixel's offsets from the shape's centre."""
    if name == "circle":
        return dy**2 + dx**2 <= (0.85 * radius) ** 2  # about the area of the others
    if name == "triangle":
        return _inside_polygon(dy, dx, 3, radius, angle)
    if name == "square":
        return _inside_polygon(dy, dx, 4, radius, angle)
    if name == "cross":
        along = dx * math.cos(angle) + dy * math.sin(angle)
        across = -dx * math.sin(angle) + dy * math.cos(angle)
        arm = radius * 0.3
        return ((np.abs(along) <= radius) & (np.abs(across) <= arm)) | (
            (np.abs(across) <= radius) & (np.abs(along) <= arm)
        )
    raise ValueError(f"unknown shape {name!r}; allowed: {', '.join(SHAPE_NAMES)}")


def draw_image(rng: np.random.Generator, name: str, size: int, noise: float) -> np.ndarray:
    """One ``(size, size, 3)`` uint8 image of shape ``name``."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    background = rng.uniform(0.0, 0.45, 3)  # a dark colour ...
    slope = rng.uniform(-0.15, 0.15, (2, 3))
    image = background + (yy / size)[..., None] * slope[0] + (xx / size)[..., None] * slope[1]
    colour = rng.uniform(0.55, 1.0, 3)  # ... under a light one: any hue, the same contrast polarity
    radius = rng.uniform(0.16, 0.34) * size
    cy, cx = rng.uniform(radius + 1, size - 1 - radius, 2)
    image[shape_mask(name, yy - cy, xx - cx, radius, rng.uniform(0, 2 * math.pi))] = colour
    for _ in range(int(rng.integers(0, 4))):  # specks of clutter
        sy, sx = rng.integers(0, size - 3, 2)
        image[sy : sy + 3, sx : sx + 3] = rng.uniform(0.0, 1.0, 3)
    image += rng.normal(0.0, noise, image.shape)
    return (np.clip(image, 0.0, 1.0) * 255).round().astype(np.uint8)


def write_dataset(
    root: str | Path,
    images_per_class: int = 600,
    image_size: int = 64,
    classes: list[str] | tuple[str, ...] = SHAPE_NAMES,
    noise: float = 0.04,
    seed: int = 0,
) -> bool:
    """Write ``root/<class>/<class>_00000.png ...`` unless ``root`` holds this very dataset already.

    Returns whether files were written. Written to a temporary sibling and renamed at the end, so an
    interrupted run never leaves half a dataset behind. A ``root`` written with other settings is refused.
    """
    import torch
    from torchvision.io import write_png

    root = Path(root)
    settings: dict[str, Any] = {
        "images_per_class": int(images_per_class),
        "image_size": int(image_size),
        "classes": list(classes),
        "noise": float(noise),
        "seed": int(seed),
    }
    if root.exists():
        record = root / RECORD
        found = json.loads(record.read_text()) if record.is_file() else None
        if found != settings:
            raise ConfigError(
                "data.root",
                f"{root} exists but was not generated with these data.generate settings; "
                "delete it to write it again, or point data.root elsewhere",
            )
        return False
    unknown = [c for c in classes if c not in SHAPE_NAMES]
    if unknown or len(classes) < 2:
        raise ConfigError(
            "data.generate.classes", f"got {list(classes)}; allowed: 2+ of {', '.join(SHAPE_NAMES)}"
        )
    staging = root.with_name(f".{root.name}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    rng = np.random.default_rng(seed)
    for name in classes:
        (staging / name).mkdir(parents=True)
        for i in range(images_per_class):
            pixels = draw_image(rng, name, image_size, noise)
            write_png(
                torch.from_numpy(pixels).permute(2, 0, 1).contiguous(),
                str(staging / name / f"{name}_{i:05d}.png"),
            )
    (staging / RECORD).write_text(json.dumps(settings, indent=2) + "\n")
    try:
        staging.rename(root)
    except OSError:  # another process finished first
        shutil.rmtree(staging, ignore_errors=True)
        if not root.exists():
            raise
        return False
    return True
