"""Sweeps: failed jobs, the sweep report, parallel jobs with the joblib launcher."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from lightning_hydra_template.distributed.sweep import SweepReport
from lightning_hydra_template.distributed.sweep_report import collect_jobs, write_report
from lightning_hydra_template.report import latest_sweep
from tests.conftest import run_main, run_module


def _fake_job(sweep: Path, num: int, overrides: list[str], summary: dict | None, status: dict | None) -> None:
    job = sweep / str(num)
    (job / ".hydra").mkdir(parents=True)
    OmegaConf.save(OmegaConf.create(overrides), job / ".hydra" / "overrides.yaml")
    if summary is not None:
        (job / "summary.json").write_text(json.dumps(summary))
    if status is not None:
        (job / "status.json").write_text(json.dumps(status))


def _summary(best: float, losses: list[float]) -> dict:
    history = [
        {
            "epoch": i + 1,
            "seconds": 0.5 * (i + 1),
            "val/loss": loss,
            "val/acc": best - 0.01 * (len(losses) - 1 - i),
        }
        for i, loss in enumerate(losses)
    ]
    return {
        "status": "completed",
        "monitor": "val/acc",
        "best_value": best,
        "best_epoch": len(losses),
        "epochs_run": len(losses),
        "global_step": 10 * len(losses),
        "fit_seconds": 0.5 * len(losses),
        "wall_seconds": 1.0 + 0.5 * len(losses),
        "test": {"test/acc": best - 0.02},
        "plan": {"iterations_per_epoch": 10, "global_batch_size": 128},
        "history": history,
    }


@pytest.fixture
def fake_sweep(tmp_path: Path) -> Path:
    sweep = tmp_path / "multiruns" / "sweep"
    _fake_job(sweep, 0, ["optimizer.lr=0.1"], _summary(0.9, [1.0, 0.5]), None)
    _fake_job(sweep, 1, ["optimizer.lr=0"], None, {"status": "failed", "error": "optimizer.lr: got 0"})
    _fake_job(sweep, 10, ["optimizer.lr=0.01"], _summary(0.8, [1.2, 0.9, 0.7]), None)
    return sweep


def test_report_has_one_row_per_job_with_status_and_metrics(fake_sweep: Path) -> None:
    jobs = write_report(fake_sweep)
    assert [j["job"] for j in jobs] == ["0", "1", "10"]  # numeric order, not text order
    with (fake_sweep / "report.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [r["status"] for r in rows] == ["completed", "failed", "completed"]
    assert rows[0]["overrides"] == "optimizer.lr=0.1"
    assert float(rows[0]["best"]) == pytest.approx(0.9)
    assert float(rows[2]["final_val_loss"]) == pytest.approx(0.7)
    assert rows[2]["epochs"] == "3" and rows[2]["iterations_per_epoch"] == "10"
    assert rows[1]["error"] == "optimizer.lr: got 0"
    markdown = (fake_sweep / "report.md").read_text()
    assert "| 10 | completed | optimizer.lr=0.01 | 0.8 |" in markdown
    assert "job 1 (failed): optimizer.lr: got 0" in markdown
    assert (fake_sweep / "report.png").read_bytes()[:4] == b"\x89PNG"


def test_sweep_callback_exits_nonzero_listing_failed_jobs(fake_sweep: Path, capsys) -> None:
    config = OmegaConf.create({"hydra": {"sweep": {"dir": str(fake_sweep)}}})
    with pytest.raises(SystemExit) as ended:
        SweepReport().on_multirun_end(config)
    assert ended.value.code == 1
    assert "job 1 failed: optimizer.lr: got 0" in capsys.readouterr().err
    assert (fake_sweep / "report.md").is_file()


def test_sweep_callback_is_quiet_when_all_jobs_completed(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    _fake_job(sweep, 0, ["seed=1"], _summary(0.9, [1.0]), None)
    SweepReport().on_multirun_end(OmegaConf.create({"hydra": {"sweep": {"dir": str(sweep)}}}))
    assert [j["status"] for j in collect_jobs(sweep)] == ["completed"]


def test_report_cli_picks_the_newest_sweep(fake_sweep: Path, monkeypatch, capsys) -> None:
    from lightning_hydra_template import report

    log_dir = fake_sweep.parents[2]
    (log_dir / "train" / "multiruns").mkdir(parents=True)
    moved = fake_sweep.rename(log_dir / "train" / "multiruns" / "sweep")
    monkeypatch.setenv("LHT_LOG_DIR", str(log_dir))
    assert latest_sweep(log_dir) == moved
    assert report.main([]) == 0
    assert "3 jobs (2 completed, 1 failed)" in capsys.readouterr().out
    with pytest.raises(SystemExit) as ended:
        report.main([f"sweep={log_dir / 'nope'}"])
    assert ended.value.code == 2


TINY_JOB = (
    "trainer.max_epochs=1",
    "~callbacks.model_summary",
    "callbacks.progress_bar.style=lines",
)


@pytest.mark.slow
def test_failed_job_does_not_stop_parallel_sweep(tmp_path: Path) -> None:
    """Two jobs at once with joblib; the bad one fails, the good one finishes, the sweep exits 1."""
    args = ["-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", *TINY_JOB, "data.batch_size=0,full"]
    result = run_module("lightning_hydra_template.train", args, tmp_path, timeout=300)
    assert result.returncode == 1, result.stderr[-2000:]
    assert "1 of 2 sweep jobs did not complete" in result.stderr
    assert "job 0 failed: data.batch_size: got 0" in result.stderr
    (sweep,) = (tmp_path / "logs" / "train" / "multiruns").iterdir()
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir()) == ["0", "1"]
    assert json.loads((sweep / "1" / "summary.json").read_text())["status"] == "completed"
    with (sweep / "report.csv").open() as handle:
        assert [r["status"] for r in csv.DictReader(handle)] == ["failed", "completed"]
    assert not (tmp_path / "logs" / "train" / "runs").exists()


@pytest.mark.slow
def test_stop_on_first_failure_skips_later_jobs(tmp_path: Path, monkeypatch, capfd) -> None:
    from lightning_hydra_template.train import main

    args = [
        "-m",
        "hydra.callbacks.sweep_report.continue_on_failure=false",
        *TINY_JOB,
        "data.batch_size=0,full",
    ]
    code, _, err = run_main(main, args, monkeypatch, capfd, tmp_path)  # the console entry point, in-process
    assert code == 1, err[-2000:]
    (sweep,) = (tmp_path / "logs" / "train" / "multiruns").iterdir()
    statuses = [j["status"] for j in collect_jobs(sweep)]
    assert statuses == ["failed", "skipped"]
    assert not (sweep / "1" / "summary.json").exists()


# example:digits
def test_batch_size_study_sweeps_full_batch_to_sgd(make_cfg) -> None:
    cfg = make_cfg(["experiment=batch_size_study"], tiny=False)
    assert cfg.hydra.sweeper.params["data.batch_size"] == "full,256,32,8,1"
    assert cfg.callbacks.early_stopping is None  # the same epoch budget for every batch size
    assert cfg.optimizer._target_ == "torch.optim.SGD" and cfg.optimizer.momentum == 0.0


# /example:digits
