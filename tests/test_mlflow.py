"""logger=mlflow: the local store by default, and a real `mlflow server` read back through MLflow's client."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("mlflow")

from mlflow.tracking import MlflowClient  # noqa: E402

from lightning_hydra_template.loggers.mlflow import MLFLOW_RUN_ID_FILE, local_tracking_uri  # noqa: E402


def _only_run(client: MlflowClient, experiment: str):
    (run,) = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    return run


def test_default_is_a_local_store_under_the_log_dir(make_cfg, monkeypatch):
    """Without a tracking URI the logger writes a SQLite store and artifacts under <log dir>/mlflow."""
    from hydra.utils import instantiate

    from lightning_hydra_template.loggers.hyperparameters import hyperparameters_for

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = make_cfg(["logger=mlflow", "logger.mlflow.tags=[dev,smoke]"])
    run_dir = Path(cfg.paths.output_dir)
    store = Path(cfg.paths.log_dir) / "mlflow"
    assert Path(cfg.logger.mlflow.save_dir) == store
    logger = instantiate(cfg.logger.mlflow)
    hyperparameters_for([logger], cfg, None, [])
    logger.log_metrics({"train/loss_step": 0.5}, step=4)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "curves.png").write_bytes(b"\x89PNG\r\n")
    logger.finalize("success")

    assert (store / "mlflow.db").is_file()
    client = MlflowClient(local_tracking_uri(store))
    run = _only_run(client, cfg.task_name)
    assert (run_dir / MLFLOW_RUN_ID_FILE).read_text().strip() == run.info.run_id
    assert run.info.run_name == run_dir.name and run.info.status == "FINISHED"
    assert run.data.params["optimizer.lr"] == str(cfg.optimizer.lr)
    assert run.data.tags["dev"] == run.data.tags["smoke"] == "true"
    assert [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, "train/loss_step")] == [
        (4, 0.5)
    ]
    assert [a.path for a in client.list_artifacts(run.info.run_id, "figures")] == ["figures/curves.png"]
    assert Path(run.info.artifact_uri.removeprefix("file://")).is_relative_to(store / "artifacts")

    # the same run directory again (a resume): the same MLflow run; a changed param is not re-sent
    # (MLflow refuses to change one), a new one is added
    resumed = instantiate(cfg.logger.mlflow)
    resumed.log_hyperparams({"optimizer.lr": 1.0, "resume.count": 1})
    resumed.finalize("success")
    assert resumed.run_id == run.info.run_id
    params = client.get_run(run.info.run_id).data.params
    assert params["optimizer.lr"] == str(cfg.optimizer.lr) and params["resume.count"] == "1"


def test_missing_mlflow_is_one_config_error(make_cfg, monkeypatch):
    import importlib.util

    from lightning_hydra_template.config.errors import ConfigError
    from lightning_hydra_template.config.validation import validate_config

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "mlflow" else real(name, *a)
    )
    with pytest.raises(ConfigError, match=r"^logger.mlflow: the mlflow package is not installed; allowed: "):
        validate_config(make_cfg(["logger=mlflow"]))
    validate_config(make_cfg(["logger=csv"]))  # other loggers do not need it


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_healthy(url: str, server: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert server.poll() is None, server.communicate()[0][-3000:]
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"mlflow server at {url} not healthy after {timeout} s")


# example:digits
@pytest.mark.slow
def test_a_run_against_a_real_mlflow_server(tmp_path, make_cfg):
    from lightning_hydra_template.train import train

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    mlflow_cli = Path(sys.executable).with_name("mlflow")
    server = subprocess.Popen(
        [
            str(mlflow_cli),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--backend-store-uri",
            f"sqlite:///{tmp_path / 'server.db'}",
            "--artifacts-destination",
            str(tmp_path / "served-artifacts"),
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: the finally below stops it and its workers
        env={k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"},
    )
    try:
        _wait_healthy(url, server)
        cfg = make_cfg(
            [
                "logger=[csv,mlflow]",
                f"logger.mlflow.tracking_uri={url}",
                "logger.mlflow.log_model=true",
                "model/net=mlp",
                "trainer.max_epochs=2",
                "trainer.log_every_n_steps=5",
                "callbacks.plots.enabled=true",
            ]
        )
        summary = train(cfg)

        client = MlflowClient(url)
        run = _only_run(client, cfg.task_name)
        run_id = run.info.run_id
        assert run.info.status == "FINISHED"
        # metrics: epoch values, step-level curve, test metrics
        val = client.get_metric_history(run_id, "val/acc")
        assert [round(m.value, 6) for m in val] == [round(r["val/acc"], 6) for r in summary["history"]]
        assert len(client.get_metric_history(run_id, "train/loss_step")) == 2 * 20 // 5
        assert run.data.metrics["test/acc"] == pytest.approx(summary["test"]["test/acc"])
        # params: the flat, secret-masked config and the plan; tags: provenance
        assert run.data.params["data.batch_size"] == str(cfg.data.batch_size)
        assert run.data.params["plan.epochs"] == "2"
        tags = run.data.tags
        from lightning_hydra_template.runs.provenance import PROVENANCE_FILE, provenance_params

        (record,) = json.loads((Path(cfg.paths.output_dir) / PROVENANCE_FILE).read_text())
        assert tags["provenance.host"] and tags["provenance.version.torch"]
        # this process's command line, as the run recorded it (a pytest-xdist worker's argv is ['-c'])
        assert tags["provenance.command"] == provenance_params(record)["provenance.command"] != ""
        if tags["provenance.git.commit"] != "unavailable":
            assert tags["mlflow.source.git.commit"] == tags["provenance.git.commit"]
        # artifacts: the figures and the best checkpoint, downloaded back through the server
        figures = {Path(a.path).name for a in client.list_artifacts(run_id, "figures")}
        assert "curves.png" in figures
        (best,) = client.list_artifacts(run_id, "checkpoints")
        assert Path(best.path).name == Path(summary["best_checkpoint"]).name
        local = client.download_artifacts(run_id, best.path, str(tmp_path / "download"))
        assert Path(local).read_bytes() == Path(summary["best_checkpoint"]).read_bytes()
        assert any(
            (tmp_path / "served-artifacts").rglob("curves.png")
        )  # stored by the server, not the client
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()


# /example:digits
