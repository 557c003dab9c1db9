"""A CSV logger that a resumed run appends to."""

from __future__ import annotations

from typing import Any


def resumable_csv_logger(save_dir: str, name: str = "csv", version: str | int | None = "", **kwargs: Any):
    """A Lightning ``CSVLogger`` that appends to an existing metrics.csv (a resumed run).

    Lightning's writer deletes an existing metrics.csv and starts with no known columns; this one keeps
    the file and starts from its header, so the rows of both runs share one table.
    """
    import csv

    from lightning.fabric.utilities.cloud_io import get_filesystem
    from lightning.pytorch.loggers import CSVLogger
    from lightning.pytorch.loggers.csv_logs import ExperimentWriter
    from lightning.pytorch.utilities.rank_zero import rank_zero_only

    class _AppendingWriter(ExperimentWriter):
        def __init__(self, log_dir: str) -> None:
            super().__init__(log_dir)
            self._take_file_header()

        def _take_file_header(self) -> None:
            fs = get_filesystem(self.metrics_file_path)
            if fs.isfile(self.metrics_file_path):
                with fs.open(self.metrics_file_path, "r", newline="") as handle:
                    header = next(csv.reader(handle), [])
                self.metrics_keys = sorted(set(header))

        def save(self) -> None:
            # The file may have grown columns since this writer last looked: a DDP run's workers are forked
            # from the main process for fitting and again for testing, each with a copy of this writer.
            if self.metrics:
                self._take_file_header()
            super().save()

        def _check_log_dir_exists(self) -> None:  # private hook: docs/lightning_internals.md
            pass  # Lightning's version deletes an existing metrics.csv

    class _ResumableCSVLogger(CSVLogger):
        @property
        def experiment(self) -> Any:
            # _experiment: the writer Lightning's own methods (save, finalize) use; set before they need it
            if self._experiment is None and rank_zero_only.rank == 0:  # type: ignore[attr-defined]  # as rank_zero_experiment; set at import
                get_filesystem(self.root_dir).makedirs(self.root_dir, exist_ok=True)
                self._experiment = _AppendingWriter(log_dir=self.log_dir)
            return super().experiment

    return _ResumableCSVLogger(save_dir=save_dir, name=name, version=version, **kwargs)
