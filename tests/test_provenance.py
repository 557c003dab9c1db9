"""Provenance: which code, command, packages and hardware produced a run, read back from the run directory."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from lightning_hydra_template.runs.provenance import git_state, record_provenance
from tests.conftest import compose_config


def _git(repo: Path, *args: str) -> str:
    command = ["git", "-c", "user.name=test", "-c", "user.email=test@example.com", *args]
    return subprocess.run(command, cwd=repo, capture_output=True, text=True, check=True).stdout.strip()


def _dirty_repo(path: Path) -> str:
    path.mkdir()
    _git(path, "init", "-q", "-b", "work")
    (path / "model.py").write_text("lr = 0.1\n")
    _git(path, "add", "model.py")
    _git(path, "commit", "-q", "-m", "first")
    (path / "model.py").write_text("lr = 0.5\n")
    return _git(path, "rev-parse", "HEAD")


def test_a_dirty_repository_is_recorded_with_its_patch_and_each_start_appends(tmp_path):
    commit = _dirty_repo(tmp_path / "repo")
    run_dir = tmp_path / "run"
    first = record_provenance(run_dir, start=tmp_path / "repo")
    git = first[0]["git"]
    assert (git["commit"], git["branch"], git["dirty"], git["patch"]) == (commit, "work", True, "git.patch")
    patch = (run_dir / "git.patch").read_text()
    assert "-lr = 0.1" in patch and "+lr = 0.5" in patch
    assert first[0]["versions"]["torch"] and first[0]["host"]["cpu"]

    _git(tmp_path / "repo", "commit", "-q", "-am", "second")  # a resume from a clean tree
    both = record_provenance(run_dir, start=tmp_path / "repo")
    assert len(both) == 2 and both[0] == first[0]
    assert both[1]["git"]["dirty"] is False and "patch" not in both[1]["git"]
    assert json.loads((run_dir / "provenance.json").read_text()) == both


def test_outside_a_repository_git_is_unavailable_not_an_error(tmp_path):
    state = git_state(tmp_path)
    assert state == {"available": False, "reason": "not a git repository"}
    records = record_provenance(tmp_path / "run", start=tmp_path)
    assert records[0]["git"]["available"] is False
    assert not (tmp_path / "run" / "git.patch").exists()


@pytest.mark.slow
def test_a_run_and_its_resume_record_provenance_in_summary_and_loggers(tmp_path, monkeypatch):
    from lightning_hydra_template.train import train

    commit = _dirty_repo(tmp_path / "repo")
    monkeypatch.chdir(tmp_path / "repo")
    run_dir = tmp_path / "logs" / "run"
    overrides = ["data.batch_size=256", "~callbacks.early_stopping"]
    summary = train(compose_config(overrides, output_dir=run_dir))
    assert summary["provenance"][0]["git"]["commit"] == commit
    assert (run_dir / "git.patch").read_text().count("+lr = 0.5") == 1
    params = yaml.safe_load((run_dir / "csv" / "hparams.yaml").read_text())
    assert params["provenance.git.commit"] == commit and params["provenance.git.dirty"] is True

    monkeypatch.chdir(tmp_path)  # resumed from outside the repository
    resumed = compose_config(
        [*overrides, "trainer.max_epochs=2", f"ckpt_path={run_dir / 'checkpoints' / 'last.ckpt'}"],
        output_dir=run_dir,
    )
    summary = train(resumed)
    records = json.loads((run_dir / "summary.json").read_text())["provenance"]
    assert [r["git"]["available"] for r in records] == [True, False]
    assert records[0]["git"]["commit"] == commit
