"""`make runs`: the local index of runs, read from run directories the tests write themselves."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lightning_hydra_template.runs_index import compare, find_runs, main, matches
from tests.conftest import REPO_ROOT, clean_env, run_main, run_module


def _run_dir(
    root: Path,
    name: str,
    overrides: list[str],
    experiment: str | None = None,
    summary: dict | None = None,
    lr: float = 0.001,
) -> Path:
    run_dir = root / name
    (run_dir / ".hydra").mkdir(parents=True)
    config = {
        "task_name": "train",
        "optimizer": {"lr": lr},
        "monitor": {"metric": "val/acc"},
        "paths": {"x": 1},
    }
    (run_dir / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
    choices = {"experiment": experiment, "optimizer": "sgd" if "optimizer=sgd" in overrides else "adam"}
    (run_dir / ".hydra" / "hydra.yaml").write_text(
        yaml.safe_dump({"hydra": {"runtime": {"choices": choices}}})
    )
    (run_dir / ".hydra" / "overrides.yaml").write_text(
        yaml.safe_dump([*overrides, f"hydra.run.dir={run_dir}"])
    )
    if summary is not None:
        (run_dir / "summary.json").write_text(json.dumps(summary))
    return run_dir


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    root = tmp_path / "logs" / "train"
    done = {"status": "completed", "monitor": "val/acc", "best_value": 0.9, "test": {"test/acc": 0.88}}
    _run_dir(root / "runs", "2026-01-02_10-00-00_bbbb", ["experiment=baseline"], "baseline", done)
    _run_dir(root / "runs", "2026-01-01_09-00-00_aaaa", ["optimizer=sgd"], None, None, lr=0.1)
    sweep = root / "multiruns" / "2026-01-03_08-00-00_cccc"
    failed = _run_dir(sweep, "0", ["experiment=baseline", "optimizer.lr=0.5"], "baseline", None, lr=0.5)
    (failed / "status.json").write_text(json.dumps({"status": "failed", "error": "boom"}))
    ok = {**done, "best_value": 0.95, "test": {"test/acc": 0.91}}
    _run_dir(sweep, "1", ["experiment=baseline", "optimizer.lr=0.01"], "baseline", ok, lr=0.01)
    return tmp_path / "logs"


def test_runs_are_listed_oldest_first_with_status_metrics_and_overrides(logs, capsys):
    runs = find_runs(logs)
    assert [r.path.name for r in runs] == ["2026-01-01_09-00-00_aaaa", "2026-01-02_10-00-00_bbbb", "0", "1"]
    assert [r.status for r in runs] == ["incomplete", "completed", "failed", "completed"]
    assert runs[3].overrides == ["experiment=baseline", "optimizer.lr=0.01"]  # hydra.run.dir is left out

    assert main([f"log_dir={logs}"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["date", "task/experiment", "status"]
    assert re.split(r"\s{2,}", lines[2]) == [
        "2026-01-02 10:00:00",
        "train/baseline",
        "completed",
        "val/acc 0.9000",
        "test/acc 0.8800",
        "experiment=baseline",
        "train/runs/2026-01-02_10-00-00_bbbb",
    ]
    assert "optimizer.lr=0.01" in lines[4] and "train/multiruns/2026-01-03_08-00-00_cccc/1" in lines[4]


def test_filters_select_by_experiment_status_choice_and_value(logs, capsys):
    runs = find_runs(logs)
    completed = [r.path.name for r in runs if matches(r, {"experiment": "baseline", "status": "completed"})]
    assert completed == ["2026-01-02_10-00-00_bbbb", "1"]
    assert [r.path.name for r in runs if matches(r, {"optimizer": "sgd"})] == ["2026-01-01_09-00-00_aaaa"]
    assert [r.path.name for r in runs if matches(r, {"optimizer.lr": "0.50"})] == ["0"]
    main([f"log_dir={logs}", "status=running"])
    assert capsys.readouterr().out.startswith("no runs under")


def test_compare_prints_config_and_metric_differences(logs):
    sweep = logs / "train" / "multiruns" / "2026-01-03_08-00-00_cccc"
    text = compare(logs / "train" / "runs" / "2026-01-02_10-00-00_bbbb", sweep / "1")
    assert "  optimizer.lr: 0.001 -> 0.01" in text.splitlines()
    assert "  best val/acc: 0.9000 -> 0.9500  (+0.0500)" in text.splitlines()
    assert "  test/acc: 0.8800 -> 0.9100  (+0.0300)" in text.splitlines()
    assert "paths.x" not in text


def test_make_runs_filters_and_a_bad_compare_is_one_line(logs):
    env = {**clean_env(), "LHT_LOG_DIR": str(logs)}
    make = ["make", "--no-print-directory", "-C", str(REPO_ROOT), "runs"]
    done = subprocess.run(
        [*make, "experiment=baseline", "status=failed"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 2 and " failed " in done.stdout.splitlines()[1]
    bad = subprocess.run([*make, f"compare={logs}"], env=env, capture_output=True, text=True)
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines()[:1] == [  # make adds its own "Error 2" line
        f"error: compare: {logs} names 1 run directories; allowed: compare=<dir1>,<dir2>"
    ]


def test_the_index_does_not_import_torch(logs):
    code = "import sys, lightning_hydra_template.runs_index as r; r.find_runs(r.Path(sys.argv[1])); print('torch' in sys.modules)"
    assert (
        subprocess.run([sys.executable, "-c", code, str(logs)], capture_output=True, text=True).stdout.strip()
        == "False"
    )


# example:digits
@pytest.mark.slow
def test_a_real_run_is_indexed(tmp_path, monkeypatch, capfd):
    from lightning_hydra_template.train import main

    args = ["trainer.max_epochs=1", "model/net=mlp", "callbacks.progress_bar.style=lines", "optimizer=sgd"]
    code, _, err = run_main(main, args, monkeypatch, capfd, tmp_path)  # the console entry point, in-process
    assert code == 0, err
    listed = run_module("lightning_hydra_template.runs_index", [], cwd=tmp_path)
    line = listed.stdout.splitlines()[1]
    summary = json.loads(next((tmp_path / "logs").rglob("summary.json")).read_text())
    columns = re.split(r"\s{2,}", line)
    assert columns[2:4] == ["completed", f"val/acc {summary['best_value']:.4f}"]
    assert columns[4].startswith(f"test/acc {summary['test']['test/acc']:.4f}")
    assert columns[-2:] == [" ".join(args), str(Path(summary["run_dir"]).relative_to(tmp_path / "logs"))]


# /example:digits
