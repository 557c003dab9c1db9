"""MLflow: a local SQLite store under ``logs/mlflow`` by default, or any tracking server.

The run gets the metrics, the flat hyperparameters as params (see hyperparameters.py), the provenance
and the run's ``tags`` as tags, the run directory's PNG figures as artifacts at the end of fitting and
of testing, and optionally the best checkpoint. mlflow is imported only when this logger is used.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from lightning_hydra_template.config.validation import require_mlflow

MLFLOW_RUN_ID_FILE = "mlflow_run_id.txt"


def local_tracking_uri(save_dir: str | Path) -> str:
    """A SQLite store in ``save_dir`` (MLflow's plain-file store is in maintenance mode and refuses to open)."""
    return f"sqlite:///{(Path(save_dir) / 'mlflow.db').resolve()}"


def mlflow_logger(
    run_dir: str,
    save_dir: str,
    experiment_name: str = "lightning-hydra-template",
    tracking_uri: str | None = None,
    run_name: str | None = None,
    tags: list[str] | None = None,
    log_model: bool = False,
    artifact_location: str | None = None,
):
    """A Lightning ``MLFlowLogger`` for this run directory.

    ``tracking_uri``: null takes ``$MLFLOW_TRACKING_URI``, else a local store in ``save_dir`` (artifacts in
    ``save_dir/artifacts``). ``run_name``: null takes the run directory's name. A resumed run (same
    directory) continues its MLflow run. ``log_model``: upload the best checkpoint at the end of fitting.
    """
    require_mlflow()
    from lightning.pytorch.loggers import MLFlowLogger
    from lightning.pytorch.loggers.logger import rank_zero_experiment
    from lightning.pytorch.utilities.rank_zero import rank_zero_only

    run_dir_path = Path(run_dir)
    uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        Path(save_dir).mkdir(parents=True, exist_ok=True)
        uri = local_tracking_uri(save_dir)
        artifact_location = artifact_location or (Path(save_dir) / "artifacts").resolve().as_uri()

    class _RunDirMLFlowLogger(MLFlowLogger):
        def __init__(self) -> None:
            super().__init__(
                experiment_name=experiment_name,
                run_name=run_name or run_dir_path.name,
                tracking_uri=uri,
                tags={tag: "true" for tag in tags or []},
                log_model=False,  # the best checkpoint only, below; Lightning's uploads every top-k one
                artifact_location=artifact_location,
            )
            self._best_checkpoint_wanted = bool(log_model)
            self._checkpointing: Any = None
            self._uploaded: dict[Path, float] = {}  # file -> mtime when uploaded

        @property
        @rank_zero_experiment
        def experiment(self) -> Any:
            if not self._initialized and self._run_id is None:
                self._run_id = self._stored_run_id()
            client = super().experiment
            id_file = run_dir_path / MLFLOW_RUN_ID_FILE
            if not id_file.is_file():
                run_dir_path.mkdir(parents=True, exist_ok=True)
                id_file.write_text(f"{self._run_id}\n")
            return client

        def _stored_run_id(self) -> str | None:
            """The MLflow run this directory logged to before (a resumed run), if the store still has it."""
            id_file = run_dir_path / MLFLOW_RUN_ID_FILE
            if not id_file.is_file():
                return None
            stored = id_file.read_text().strip()
            try:
                run = self._mlflow_client.get_run(stored)
            except Exception:  # another store, or the run was deleted: start a new run
                id_file.unlink()
                return None
            return stored if run.info.lifecycle_stage == "active" else None

        @rank_zero_only
        def log_hyperparams(self, params: Any) -> None:
            from mlflow.entities import RunTag

            params = dict(params)
            # MLflow refuses to change a logged param: a resumed run adds only the new ones
            known = self.experiment.get_run(self.run_id).data.params
            super().log_hyperparams({k: v for k, v in params.items() if k not in known})
            tags = [RunTag(k, str(v)[:5000]) for k, v in params.items() if k.startswith("provenance.")]
            for mlflow_tag, key in (
                ("mlflow.source.git.commit", "provenance.git.commit"),
                ("mlflow.source.git.branch", "provenance.git.branch"),
            ):
                if params.get(key):
                    tags.append(RunTag(mlflow_tag, str(params[key])))
            if tags:
                self.experiment.log_batch(run_id=self.run_id, tags=tags)

        def after_save_checkpoint(self, checkpoint_callback: Any) -> None:
            self._checkpointing = checkpoint_callback

        @rank_zero_only
        def finalize(self, status: str = "success") -> None:
            if self._initialized:
                self._upload_figures()
                if self._best_checkpoint_wanted and self._checkpointing is not None:
                    best = getattr(self._checkpointing, "best_model_path", "")
                    if best:
                        self._upload(Path(best), "checkpoints")
            super().finalize(status)

        def _upload_figures(self) -> None:
            for png in sorted(run_dir_path.glob("*.png")):
                self._upload(png, "figures")

        def _upload(self, path: Path, folder: str) -> None:
            """Upload ``path`` unless this exact version of it is already there."""
            if not path.is_file() or self._uploaded.get(path) == path.stat().st_mtime:
                return
            self.experiment.log_artifact(self.run_id, str(path), artifact_path=folder)
            self._uploaded[path] = path.stat().st_mtime

    return _RunDirMLFlowLogger()
