"""Predictions as a table (CSV or parquet) and, for segmentation, one PNG mask per input.

Everything is written beside its final place and renamed into it at the end, so an interrupted or
failed prediction never leaves a half-written table behind.
"""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lightning_hydra_template.config.errors import ConfigError

FORMATS = ("csv", "parquet")


def prediction_columns(
    kind: str, ids: list[str], predictions: torch.Tensor, class_names: list[str]
) -> dict[str, list[Any]]:
    """One column per field: the id, then what the task predicts (see TaskModule.prediction_kind)."""
    values = predictions.detach().float().cpu().numpy()
    columns: dict[str, list[Any]] = {"id": list(ids)}
    if kind == "classes":
        best = values.argmax(axis=1)
        columns["predicted"] = best.tolist()
        columns["predicted_name"] = [class_names[i] for i in best]
        columns["confidence"] = values.max(axis=1).tolist()
        for i, name in enumerate(class_names):
            columns[f"prob_{name}"] = values[:, i].tolist()
    elif kind == "masks":
        masks = values.argmax(axis=1)
        columns["mask"] = [f"masks/{_file_name(i)}.png" for i in ids]
        for c, name in enumerate(class_names):
            columns[f"pixels_{name}"] = (masks == c).reshape(len(masks), -1).sum(axis=1).tolist()
    else:
        flat = values.reshape(len(values), -1)
        names = ["prediction"] if flat.shape[1] == 1 else [f"prediction_{i}" for i in range(flat.shape[1])]
        for i, name in enumerate(names):
            columns[name] = flat[:, i].tolist()
    return columns


def _file_name(sample_id: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in Path(sample_id).name) or "sample"


def write_predictions(
    run_dir: Path, kind: str, ids: list[str], predictions: torch.Tensor, class_names: list[str], fmt: str
) -> Path:
    """``run_dir/predictions.<fmt>`` (and ``run_dir/masks/`` for masks); returns the table's path."""
    if fmt not in FORMATS:
        raise ConfigError("output_format", f"got {fmt!r}; allowed: {', '.join(FORMATS)}")
    columns = prediction_columns(kind, ids, predictions, class_names)
    target = run_dir / f"predictions.{fmt}"
    staged = run_dir / f".predictions.{fmt}.partial"
    if kind == "masks":
        _write_masks(run_dir / "masks", columns["id"], predictions)
    if fmt == "csv":
        with open(staged, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(columns)
            writer.writerows(zip(*columns.values(), strict=True))
    else:
        _write_parquet(columns, staged)
    os.replace(staged, target)
    return target


def _write_parquet(columns: dict[str, list[Any]], path: Path) -> None:
    try:
        import pandas as pd
    except ImportError as err:
        raise ConfigError("output_format", "parquet needs pandas and pyarrow; allowed here: csv") from err
    pd.DataFrame(columns).to_parquet(path, index=False)


def _write_masks(folder: Path, ids: list[str], predictions: torch.Tensor) -> None:
    from PIL import Image

    masks = predictions.argmax(dim=1).to(torch.uint8).cpu().numpy()
    staged = folder.with_name(f".{folder.name}.partial")
    shutil.rmtree(staged, ignore_errors=True)
    staged.mkdir(parents=True)
    for sample_id, mask in zip(ids, masks, strict=True):
        Image.fromarray(np.ascontiguousarray(mask), mode="L").save(staged / f"{_file_name(sample_id)}.png")
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(staged, folder)
