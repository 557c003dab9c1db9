"""Run directories are created exclusively: two runs started in the same second never share one, while
the processes of one run (sweep jobs re-resolving the config, DDP children given the directory) find it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra.core.global_hydra import GlobalHydra

from lightning_hydra_template.config import resolvers
from lightning_hydra_template.config.compose import compose_run_config
from lightning_hydra_template.config.resolvers import RUN_DIR_ENV, new_run_dir, start_new_run


@pytest.fixture(autouse=True)
def _own_run(monkeypatch):
    monkeypatch.delenv(RUN_DIR_ENV, raising=False)
    yield
    GlobalHydra.instance().clear()


def test_a_taken_id_is_never_reused(tmp_path, monkeypatch):
    ids = iter(["aaaa", "aaaa", "aaaa", "bbbb"])  # the second run draws the first run's id twice
    monkeypatch.setattr(resolvers.secrets, "token_hex", lambda n: next(ids))
    base = str(tmp_path / "runs" / "2026-01-31_12-00-00")
    first = new_run_dir(base)
    start_new_run()  # another command started in the same second
    second = new_run_dir(base)
    assert first == f"{base}_aaaa"
    assert second == f"{base}_bbbb"
    assert Path(first).is_dir() and Path(second).is_dir()


def test_the_configured_run_dir_is_created_once_per_run(tmp_path, monkeypatch):
    monkeypatch.setenv("LHT_LOG_DIR", str(tmp_path / "logs"))
    cfg = compose_run_config([])
    first = cfg.hydra.run.dir
    assert first == cfg.hydra.run.dir  # resolved again in the same run: the same directory
    assert [str(p) for p in (tmp_path / "logs" / "train" / "runs").iterdir()] == [first]
    start_new_run()
    other = compose_run_config([]).hydra.run.dir
    assert other != first and Path(other).is_dir()


def test_a_ddp_child_given_its_parents_directory_creates_none(tmp_path, monkeypatch):
    # Lightning's subprocess launcher starts each child with hydra.run.dir="<the parent's run dir>"
    monkeypatch.setenv("LHT_LOG_DIR", str(tmp_path / "logs"))
    parent = compose_run_config([]).hydra.run.dir
    start_new_run()  # the child is a new command line
    child = compose_run_config([f'hydra.run.dir="{parent}"']).hydra.run.dir
    assert child == parent
    assert [str(p) for p in (tmp_path / "logs" / "train" / "runs").iterdir()] == [parent]


@pytest.mark.slow
def test_concurrent_processes_get_distinct_directories_and_a_sweep_job_finds_its_own(tmp_path):
    # budget: nine interpreter starts importing omegaconf, ~5 s on an idle machine
    base = str(tmp_path / "runs" / "2026-01-31_12-00-00")
    # eight commands started at once, drawing ids from only eight values: collisions are near certain
    code = (
        "import random, sys; from lightning_hydra_template.config import resolvers;"
        "resolvers.secrets.token_hex = lambda n: f'{random.randrange(8):04x}';"
        f"print(resolvers.new_run_dir({base!r}))"
    )
    env = {k: v for k, v in os.environ.items() if k != RUN_DIR_ENV}
    procs = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)
        for _ in range(8)
    ]
    dirs = [p.communicate()[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert len(set(dirs)) == 8 and all(Path(d).is_dir() for d in dirs)
    # a process of the same run (a sweep job started by submitit) inherits the directory
    inherited = {**env, RUN_DIR_ENV: dirs[0]}
    job = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=inherited)
    assert job.stdout.strip() == dirs[0]
