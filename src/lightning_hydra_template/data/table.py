"""A table on disk (CSV, TSV or parquet) as a classification or regression dataset held in memory.

    make train experiment=csv_classification data.path=patients.csv data.target=outcome

Rows with an empty target are left out. The split is seeded (stratified by class for classification);
the feature encoding (:mod:`table_encoding`) and the target scaling are fitted on the training split,
saved in every checkpoint (Lightning stores a datamodule's ``state_dict``) and restored from it.
Bad options are reported from ``check_config`` and ``setup``, not the constructor: Hydra's ``instantiate``
wraps a constructor's exceptions, which would turn the one-line error into a traceback.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lightning_hydra_template.config.errors import ConfigError
from lightning_hydra_template.config.validation import Check, check_fields
from lightning_hydra_template.data.base import InMemoryDataModule

TASKS = ("classification", "regression")
FORMATS = {".csv": "csv", ".tsv": "tsv", ".parquet": "parquet", ".pq": "parquet"}
COMPRESSIONS = (".gz", ".bz2", ".zip", ".xz", ".zst")  # pandas reads these csv/tsv files directly
ALLOWED_FILES = ".csv, .tsv, .parquet, .pq (csv/tsv also compressed: " + ", ".join(COMPRESSIONS) + ")"
SHOWN_COLUMNS = 30


def table_format(path: str | Path) -> str | None:
    """``csv``, ``tsv`` or ``parquet`` from the file name, or None when unsupported."""
    suffixes = [s.lower() for s in Path(path).suffixes]
    if len(suffixes) >= 2 and suffixes[-1] in COMPRESSIONS and FORMATS.get(suffixes[-2]) in ("csv", "tsv"):
        return FORMATS[suffixes[-2]]
    return FORMATS.get(suffixes[-1]) if suffixes else None


def check_options(path: str | None, task: Any, max_categories: Any) -> None:
    """The checks that need no file reading: run before any heavy import (see ``check_config``)."""
    if task not in TASKS:
        raise ConfigError("data.task", f"got {task!r}; allowed: {', '.join(TASKS)}")
    if not (isinstance(max_categories, int) and not isinstance(max_categories, bool) and max_categories >= 2):
        raise ConfigError("data.max_categories", f"got {max_categories!r}; allowed: an integer >= 2")
    if path is None:
        return
    if table_format(path) is None:
        suffix = "".join(Path(path).suffixes) or "no extension"
        raise ConfigError(
            "data.path", f"unsupported file type ({suffix}) of {path}; allowed: {ALLOWED_FILES}"
        )
    if not Path(path).is_file():
        raise ConfigError("data.path", f"no file at {Path(path).absolute()}; allowed: an existing table file")


def shown(columns: Sequence[Any]) -> str:
    names = ", ".join(str(c) for c in columns[:SHOWN_COLUMNS])
    return names + (f", ... ({len(columns) - SHOWN_COLUMNS} more)" if len(columns) > SHOWN_COLUMNS else "")


def read_table(path: Path, na_values: Sequence[str], read_options: dict[str, Any]) -> Any:
    """The whole file as a pandas DataFrame; unreadable files are a one-line error."""
    import pandas as pd

    kind = table_format(path)
    try:
        if kind == "parquet":
            frame = pd.read_parquet(path, **read_options)
            return _with_na_values(frame, na_values) if na_values else frame
        options = {
            "sep": "\t" if kind == "tsv" else ",",
            "na_values": list(na_values) or None,
            **read_options,
        }
        return pd.read_csv(path, **options)
    except pd.errors.EmptyDataError:
        raise ConfigError("data.path", f"{path} is empty; allowed: a table with a header row") from None
    except (ValueError, OSError, ImportError, pd.errors.ParserError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ConfigError("data.path", f"cannot read {path}: {reason}") from None


def _with_na_values(frame: Any, na_values: Sequence[str]) -> Any:
    """Parquet has no ``na_values``: blank those strings, then read text columns that are all numbers as numbers."""
    import pandas as pd

    frame = frame.replace(list(na_values), np.nan)
    for column in frame.columns:
        if not pd.api.types.is_numeric_dtype(frame[column]):
            numbers = pd.to_numeric(frame[column], errors="coerce")
            if numbers.notna().sum() == frame[column].notna().sum():
                frame[column] = numbers
    return frame


class TableDataModule(InMemoryDataModule):
    """Features: every column but the target (or ``features``), minus ``drop``.

    After :meth:`setup`: ``num_features``, ``feature_names``, ``class_names`` and ``num_classes``
    (classification; None for regression), ``target_mean`` / ``target_std`` (regression targets are
    standardised when ``scale_target``; the regressor reports metrics in the original units).
    """

    def __init__(
        self,
        path: str | None = None,
        target: str | None = None,
        task: str = "classification",
        features: Sequence[str] | None = None,
        drop: Sequence[str] = (),
        categorical: Sequence[str] = (),
        max_categories: int = 50,
        na_values: Sequence[str] = (),
        scale_target: bool = True,
        read_options: dict[str, Any] | None = None,
        example_dir: str = "data/tables",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.path = path
        self.target = target
        self.task = task
        self.stratified = task == "classification"
        self.features = None if features is None else list(features)
        self.drop = list(drop or ())
        self.categorical = list(categorical or ())
        self.max_categories = max_categories
        self.na_values = [str(v) for v in na_values or ()]
        self.scale_target = scale_target
        self.read_options = dict(read_options or {})
        self.example_dir = example_dir
        self.encoder: Any = None  # a TableEncoder once fitted or restored
        self.feature_names: list[str] = []
        self.class_names: list[str] = []
        self.num_classes: int | None = None
        self.target_mean = 0.0
        self.target_std = 1.0
        self.rows_without_target = 0  # left out when reading
        self._frame: Any = None  # the feature columns of every kept row, as read
        self._target_column: Any = None  # the target cells of every kept row, as read
        self._targets: np.ndarray | None = None  # class codes, or the target in its original units

    @classmethod
    def check_config(cls, config: Any) -> None:
        """Early checks on the run config (task, limits, file name and existence)."""
        inherited = getattr(super(), "check_config", None)  # the in-memory fields, where the base checks them
        if inherited is not None:
            inherited(config)
        check_fields(config, [Check("data.scale_target", lambda v: isinstance(v, bool), "true or false")])
        data = config.data
        check_options(data.get("path"), data.get("task", "classification"), data.get("max_categories", 50))

    @property
    def num_features(self) -> int:
        return len(self.feature_names)

    # --- reading ------------------------------------------------------------------------------
    def _source(self) -> tuple[Path, str | None]:
        if self.path is not None:
            return Path(self.path), self.target
        from lightning_hydra_template.data.table_examples import example_table

        path, example_target = example_table(self.task, self.example_dir)
        return path, self.target or example_target

    def load_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Reads the table; the "inputs" are row numbers until :meth:`fit_transforms` encodes them."""
        check_options(self.path, self.task, self.max_categories)
        path, target = self._source()
        frame = read_table(path, self.na_values, self.read_options)
        columns = [str(c) for c in frame.columns]
        frame.columns = columns
        if target is None:
            raise ConfigError("data.target", f"required: the column to predict; allowed: {shown(columns)}")
        if target not in columns:
            raise ConfigError(
                "data.target", f"no column {target!r} in {path.name}; allowed: {shown(columns)}"
            )
        self.target = target
        self.rows_without_target = int(frame[target].isna().sum())
        frame = frame[frame[target].notna()].reset_index(drop=True)
        if frame.empty:
            raise ConfigError("data.target", f"column {target!r} of {path.name} has no filled cells")
        self._frame = frame[self._feature_columns(columns, target)]
        self._target_column = frame[target]
        self._targets = self._encode_target(self._target_column)
        return np.arange(len(frame)), self._targets

    def _feature_columns(self, columns: list[str], target: str) -> list[str]:
        for field, listed in (("data.features", self.features or []), ("data.drop", self.drop)):
            unknown = [c for c in listed if c not in columns]
            if unknown:
                raise ConfigError(
                    field, f"no column {shown(unknown)} in the table; allowed: {shown(columns)}"
                )
        unknown = [c for c in self.categorical if c not in columns]
        if unknown:
            raise ConfigError("data.categorical", f"no column {shown(unknown)}; allowed: {shown(columns)}")
        if self.features is not None and target in self.features:
            raise ConfigError(
                "data.features", f"{target!r} is the target (data.target); allowed: other columns"
            )
        chosen = self.features if self.features is not None else [c for c in columns if c != target]
        chosen = [c for c in chosen if c not in self.drop]
        if not chosen:
            raise ConfigError(
                "data.features", "no feature column left; allowed: at least one column besides the target"
            )
        return chosen

    def _encode_target(self, series: Any) -> np.ndarray:
        import pandas as pd

        from lightning_hydra_template.data.table_encoding import category_strings, is_numeric

        if self.task == "regression":
            numbers = pd.to_numeric(series, errors="coerce")
            if numbers.isna().any():
                bad = ", ".join(repr(v) for v in list(dict.fromkeys(series[numbers.isna()]))[:3])
                raise ConfigError(
                    "data.target",
                    f"column {self.target!r} has non-numeric values ({bad}); "
                    "allowed: a numeric column for data.task=regression, or data.task=classification",
                )
            return numbers.to_numpy(dtype=np.float32)
        labels = category_strings(series)
        if is_numeric(series):
            numbers = series.to_numpy(dtype=np.float64)
            fractional = numbers[numbers != np.round(numbers)]
            if fractional.size:
                raise ConfigError(
                    "data.target",
                    f"column {self.target!r} holds non-integer numbers (e.g. {fractional[0]:g}), not class labels; "
                    "allowed: data.task=regression, or a column of class labels",
                )
            value_of = dict(zip(labels, numbers, strict=True))
            names = sorted(value_of, key=value_of.__getitem__)
        else:
            names = sorted(labels.unique())
        if len(names) < 2:
            raise ConfigError(
                "data.target",
                f"column {self.target!r} has a single class ({names[0]!r}): nothing to tell apart; "
                "allowed: a column with at least 2 classes",
            )
        if not self.class_names:
            self.class_names = names
        elif set(names) - set(self.class_names):
            raise ConfigError(
                "data.target",
                f"classes {shown(sorted(set(names) - set(self.class_names)))} are not among the checkpoint's "
                f"({shown(self.class_names)})",
            )
        self.num_classes = len(self.class_names)
        code = {name: i for i, name in enumerate(self.class_names)}
        return labels.map(code).to_numpy(dtype=np.int64)

    # --- splitting, fitting, encoding ---------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        try:
            super().setup(stage)
        except ValueError as err:  # scikit-learn's stratified split: too few rows of some class
            if not self.stratified:
                raise
            assert self._targets is not None  # encoded by load_arrays, before the split
            counts = np.bincount(self._targets, minlength=len(self.class_names))
            rarest = int(np.argmin(counts))
            raise ConfigError(
                "data.target",
                f"cannot split {len(self._targets)} rows stratified by {len(self.class_names)} classes "
                f"(class {self.class_names[rarest]!r}: {counts[rarest]} row{'s' if counts[rarest] != 1 else ''}): {err}",
            ) from None

    def fit_transforms(self, splits: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
        from lightning_hydra_template.data.table_encoding import TableEncoder

        if self.encoder is None:
            rows, targets = splits["train"]
            train = self._frame.iloc[rows]
            self.encoder = TableEncoder.for_frame(train, self.categorical, self.max_categories).fit(train)
            if self.task == "regression" and self.scale_target:
                self.target_mean = float(targets.mean())
                self.target_std = float(targets.std()) or 1.0
        self.feature_names = self.encoder.feature_names
        for name, (rows, _) in splits.items():
            splits[name] = self._encoded(rows)
        left_out = (
            f" ({self.rows_without_target} without a target left out)" if self.rows_without_target else ""
        )
        _print_rank_zero(
            f"Table: {len(self._frame)} rows{left_out} -> {self.encoder.describe()}{self._classes_note()}"
        )

    def _classes_note(self) -> str:
        if self.task == "regression":
            return f"; target {self.target!r} (regression)"
        return f"; target {self.target!r}: {len(self.class_names)} classes ({shown(self.class_names)})"

    def _encoded(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        features = self.encoder.transform(self._frame.iloc[rows])
        assert self._targets is not None  # encoded by load_arrays
        targets = self._targets[rows]
        if self.task == "regression":
            targets = ((targets - self.target_mean) / self.target_std).astype(np.float32)[:, None]
        return features, targets

    def encode(self, frame: Any) -> torch.Tensor:
        """New rows (a DataFrame with the feature columns) encoded exactly as the training rows were."""
        return torch.from_numpy(self.encoder.transform(frame))

    def to_tensors(self, inputs: np.ndarray, targets: np.ndarray) -> tuple[torch.Tensor, ...]:
        return torch.from_numpy(np.ascontiguousarray(inputs)), torch.from_numpy(np.ascontiguousarray(targets))

    def prediction_inputs(self, path: Path) -> tuple[list[str], torch.Tensor]:
        """``make predict input=<table>``: rows with the training columns (the target may be absent),
        encoded with the training split's statistics; ids are the row numbers."""
        if self.encoder is None:  # a checkpoint without the table's state: refit from the training file
            self.setup("test")
        frame = read_table(Path(path), self.na_values, self.read_options)
        frame.columns = [str(c) for c in frame.columns]
        needed = list(self.encoder.numeric) + list(self.encoder.categorical)
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            raise ConfigError(
                "input",
                f"{Path(path).name} lacks the training column(s) {shown(missing)}; allowed: a table with "
                f"the columns {shown(needed)} (the target may be left out)",
            )
        return [str(i) for i in range(len(frame))], self.encode(frame[needed])

    # --- checkpoints: Lightning saves and restores these with the model -------------------------
    def state_dict(self) -> dict[str, Any]:
        if self.encoder is None:
            return {}
        return {
            "task": self.task,
            "target": self.target,
            "features": list(self._frame.columns),
            "encoder": self.encoder.state_dict(),
            "class_names": list(self.class_names),
            "target_mean": self.target_mean,
            "target_std": self.target_std,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Use the checkpoint's encoding and scaling instead of those fitted on this file's training split."""
        from lightning_hydra_template.data.table_encoding import TableEncoder

        if not state:
            return
        self.encoder = TableEncoder.from_state(state["encoder"])
        self.class_names = list(state["class_names"])
        self.num_classes = len(self.class_names) if self.task == "classification" else None
        self.target_mean = float(state["target_mean"])
        self.target_std = float(state["target_std"])
        self.feature_names = self.encoder.feature_names
        if self.splits:  # already set up: encode the splits again with the restored statistics
            self._targets = self._encode_target(self._target_column)
            self.splits = {name: self.to_tensors(*self._encoded(rows)) for name, rows in self.indices.items()}
            self._placed.clear()


def _print_rank_zero(message: str) -> None:
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    if rank_zero_only.rank == 0:  # type: ignore[attr-defined]  # set on the function by Lightning at import
        print(message, flush=True)
