"""Table columns to a float matrix: numbers standardised, text one-hot, gaps filled; fitted on one split.

Every statistic comes from :meth:`TableEncoder.fit` (the training split) and travels as a plain dict
(:meth:`TableEncoder.state_dict`), so a checkpoint rebuilds exactly the same encoding.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from lightning_hydra_template.config.errors import ConfigError

MISSING = "(missing)"  # the category of an empty cell in a categorical column


def is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)


def category_strings(series: pd.Series) -> pd.Series:
    """Cell values as category labels: empty cells become ``MISSING``; 3.0 and 3 are the same label."""

    def label(value: Any) -> str:
        if pd.isna(value):
            return MISSING
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)

    return series.astype(object).map(label)


def _mostly_numbers(series: pd.Series) -> tuple[bool, list[str]]:
    """Whether at least 90 % of the filled cells parse as numbers, and a few of those that do not."""
    filled = series.dropna().astype(str)
    parsed = pd.to_numeric(filled, errors="coerce")
    bad = filled[parsed.isna()]
    return len(filled) > 0 and len(bad) <= 0.1 * len(filled), list(dict.fromkeys(bad))[:3]


class TableEncoder:
    """Numeric columns: training median for empty cells, a 0/1 "missing" column when the training split has
    gaps, then (x - mean) / std. Categorical columns: one 0/1 column per training-split category (empty
    cells are a category of their own); a category never seen in training encodes as all zeros."""

    def __init__(self, numeric: Sequence[str], categorical: Sequence[str], max_categories: int = 50) -> None:
        self.numeric = list(numeric)
        self.categorical = list(categorical)
        self.max_categories = max_categories
        self.numeric_stats: dict[str, dict[str, Any]] = {}
        self.categories: dict[str, list[str]] = {}

    @classmethod
    def for_frame(
        cls, frame: pd.DataFrame, categorical: Sequence[str] = (), max_categories: int = 50
    ) -> TableEncoder:
        """Numeric dtypes are numeric, unless listed in ``categorical``; everything else is categorical."""
        forced = set(categorical)
        numeric = [c for c in frame.columns if is_numeric(frame[c]) and c not in forced]
        return cls(numeric, [c for c in frame.columns if c not in numeric], max_categories)

    # --- fit / transform ----------------------------------------------------------------------
    def fit(self, frame: pd.DataFrame) -> TableEncoder:
        for column in self.numeric:
            values = frame[column].to_numpy(dtype=np.float64, na_value=np.nan)
            observed = values[~np.isnan(values)]
            median = float(np.median(observed)) if observed.size else 0.0
            std = float(observed.std()) if observed.size else 0.0
            self.numeric_stats[column] = {
                "median": median,
                "mean": float(observed.mean()) if observed.size else 0.0,
                "std": std if std > 0 else 1.0,
                "indicator": bool(observed.size < values.size),
            }
        for column in self.categorical:
            labels = category_strings(frame[column])
            categories = sorted(labels.unique())
            if len(categories) > self.max_categories:
                raise ConfigError(
                    "data.max_categories", self._too_many(column, frame[column], len(categories))
                )
            self.categories[column] = categories
        return self

    def _too_many(self, column: str, series: pd.Series, count: int) -> str:
        problem = (
            f"column {column!r} has {count} distinct values in the training split, more than "
            f"{self.max_categories} to one-hot encode"
        )
        mostly_numbers, samples = _mostly_numbers(series)
        if mostly_numbers:
            shown = ", ".join(repr(s) for s in samples)
            return (
                f"{problem}: it is numbers with a few text cells ({shown}); "
                f"allowed: data.na_values=[{', '.join(samples)}] to read those as empty"
            )
        return f"{problem}; allowed: data.drop=[{column}] to leave it out, or a larger data.max_categories"

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """The encoded features, float32, one row per row of ``frame``, in :attr:`feature_names` order."""
        blocks: list[np.ndarray] = []
        for column in self.numeric:
            stats = self.numeric_stats[column]
            values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
            missing = np.isnan(values)
            filled = np.where(missing, stats["median"], values)
            blocks.append(((filled - stats["mean"]) / stats["std"])[:, None])
            if stats["indicator"]:
                blocks.append(missing[:, None].astype(np.float64))
        for column in self.categorical:
            labels = category_strings(frame[column]).to_numpy()
            blocks.append(labels[:, None] == np.asarray(self.categories[column], dtype=object)[None, :])
        if not blocks:
            return np.zeros((len(frame), 0), dtype=np.float32)
        return np.concatenate([b.astype(np.float32) for b in blocks], axis=1)

    # --- description and state ----------------------------------------------------------------
    @property
    def feature_names(self) -> list[str]:
        names = []
        for column in self.numeric:
            names.append(column)
            if self.numeric_stats[column]["indicator"]:
                names.append(f"{column} {MISSING}")
        for column in self.categorical:
            names += [f"{column}={category}" for category in self.categories[column]]
        return names

    def describe(self) -> str:
        indicators = sum(s["indicator"] for s in self.numeric_stats.values())
        one_hot = sum(len(c) for c in self.categories.values())
        return (
            f"{len(self.feature_names)} features: {len(self.numeric)} numeric (standardised), "
            f"{indicators} missing-value indicators, {one_hot} one-hot from {len(self.categorical)} categorical"
        )

    def state_dict(self) -> dict[str, Any]:
        """Plain containers only: checkpoints load with ``weights_only=True``."""
        return {
            "numeric": {column: dict(stats) for column, stats in self.numeric_stats.items()},
            "categorical": {column: list(categories) for column, categories in self.categories.items()},
            "max_categories": self.max_categories,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> TableEncoder:
        encoder = cls(list(state["numeric"]), list(state["categorical"]), int(state["max_categories"]))
        encoder.numeric_stats = {column: dict(stats) for column, stats in state["numeric"].items()}
        encoder.categories = {column: list(cats) for column, cats in state["categorical"].items()}
        return encoder
