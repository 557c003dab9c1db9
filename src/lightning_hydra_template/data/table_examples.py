"""Example tables written from scikit-learn's bundled data (no download), with the awkward parts of real
tables added deterministically: a text column and empty cells."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

MISSING_SHARE = 0.05  # share of cells emptied in the columns chosen below
SEED = 0


def _blank(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    rng = np.random.default_rng(SEED)
    for column in columns:
        rows = rng.random(len(frame)) < MISSING_SHARE
        frame[column] = frame[column].astype(object).where(~rows, None)
    return frame


def breast_cancer() -> pd.DataFrame:
    """569 tumours, 30 measurements, ``diagnosis`` malignant or benign; plus a text ``size`` band."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer(as_frame=True)
    frame = data.data.copy()
    radius = frame["mean radius"]
    frame["size"] = np.where(radius < 12, "small", np.where(radius < 16, "medium", "large"))
    frame["diagnosis"] = data.target_names[data.target.to_numpy()]
    return _blank(frame, ["mean texture", "mean smoothness", "worst concavity", "size"])


def diabetes() -> pd.DataFrame:
    """442 patients, 10 measurements in raw units, ``progression`` one year later; plus a text BMI class."""
    from sklearn.datasets import load_diabetes

    data = load_diabetes(scaled=False, as_frame=True)
    frame = data.data.copy()
    bmi = frame["bmi"]
    frame["bmi_class"] = np.where(bmi < 25, "normal", np.where(bmi < 30, "overweight", "obese"))
    frame["progression"] = data.target
    return _blank(frame, ["bp", "s3", "bmi_class"])


# task -> (file name, target column, builder)
EXAMPLES: dict[str, tuple[str, str, Callable[[], pd.DataFrame]]] = {
    "classification": ("breast_cancer.csv", "diagnosis", breast_cancer),
    "regression": ("diabetes.csv", "progression", diabetes),
}


def example_table(task: str, directory: str | Path) -> tuple[Path, str]:
    """The example table for ``task`` under ``directory`` (written on first use) and its target column."""
    name, target, build = EXAMPLES[task]
    path = Path(directory) / name
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{name}.{os.getpid()}.tmp")  # concurrent writers never see a half file
        build().to_csv(partial, index=False)
        os.replace(partial, path)
        print(f"Wrote the example table {path}", flush=True)
    return path, target
