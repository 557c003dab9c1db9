"""Optuna search: search-space checks, two workers on one SQLite study, rerun continues the study."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from omegaconf import OmegaConf

from lightning_hydra_template.config.errors import ConfigError
from lightning_hydra_template.search import as_overrides, search_space, suggest


def _cfg(params: dict) -> OmegaConf:
    return OmegaConf.create({"search": {"params": params}})


def test_search_space_types_map_to_optuna_suggestions() -> None:
    space = search_space(
        _cfg(
            {
                "optimizer.lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
                "trainer.max_epochs": {"type": "int", "low": 2, "high": 8, "step": 2},
                "data.batch_size": {"type": "categorical", "choices": [16, "full"]},
            }
        )
    )
    trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask()
    values = suggest(trial, space)
    assert 1e-4 <= values["optimizer.lr"] <= 1e-1
    assert values["trainer.max_epochs"] in (2, 4, 6, 8)
    assert values["data.batch_size"] in (16, "full")
    assert as_overrides({"a.b": 3})[0] == "a.b=3"


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ({"type": "uniform", "low": 0, "high": 1}, "allowed: a mapping with type"),
        ({"type": "float", "low": 1, "high": 1}, "is not below high"),
        ({"type": "categorical", "choices": []}, "non-empty list"),
        ({"type": "int", "low": "a", "high": 3}, "needs numbers low and high"),
    ],
)
def test_bad_search_space_names_the_parameter(spec: dict, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem) as err:
        search_space(_cfg({"optimizer.lr": spec}))
    assert err.value.field == "search.params.optimizer.lr"


SEARCH_ARGS = (
    "hparams_search=digits_mlp",
    "trainer.max_epochs=2",
    "+trainer.limit_train_batches=2",
    "~callbacks.model_summary",
    "callbacks.progress_bar.style=lines",
    "logger=csv",
    "test=false",
)


def _worker(tmp_path: Path, index: int, n_trials: int) -> subprocess.Popen:
    env = {**os.environ, "LHT_LOG_DIR": str(tmp_path / "logs"), "PYTHONUNBUFFERED": "1"}
    env.pop("LHT_RUN_ID", None)
    args = [*SEARCH_ARGS, f"search.n_trials={n_trials}", f"search.worker_index={index}"]
    return subprocess.Popen(
        [sys.executable, "-m", "lightning_hydra_template.search", *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.mark.slow
def test_two_workers_share_one_sqlite_study_without_duplicates(tmp_path: Path, monkeypatch, capsys) -> None:
    """Budget: ~40-90 s on 2 busy cores (two Python processes at once, 4 trials of 2 tiny epochs, then a rerun)."""
    workers = [_worker(tmp_path, i, n_trials=4) for i in (0, 1)]
    outputs = [w.communicate(timeout=400)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs[0][-2000:] + outputs[1][-2000:]

    directory = tmp_path / "logs" / "search" / "digits_mlp"
    study = optuna.load_study(study_name="digits_mlp", storage=f"sqlite:///{directory / 'optuna.db'}")
    trials = study.get_trials(deepcopy=False)
    numbers = [t.number for t in trials]
    assert sorted(numbers) == list(range(len(trials)))  # every trial number exactly once
    finished = [t for t in trials if t.state.is_finished()]
    assert 4 <= len(finished) <= 5  # a worker may start one trial while the other finishes the 4th
    assert {t.user_attrs["worker"] for t in trials} == {0, 1}  # both workers took part
    params = [tuple(sorted(t.params.items())) for t in trials]
    assert len(set(params)) == len(params)  # distinct sampler seeds: no trial drawn twice
    for t in finished:  # each trial trained in its own directory
        assert (directory / str(t.number) / ".hydra" / "config.yaml").is_file()
    assert (directory / "best_params.yaml").is_file()
    with (directory / "trials.csv").open() as handle:
        assert sorted(int(r["number"]) for r in csv.DictReader(handle)) == numbers

    # rerunning the same command with a larger budget continues the same study (in-process: cheaper)
    from lightning_hydra_template.search import run_search

    monkeypatch.setenv("LHT_LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.chdir(tmp_path)
    ran = run_search([*SEARCH_ARGS, f"search.n_trials={len(finished) + 1}"])
    assert ran == 1
    assert f"{len(finished)} of {len(finished) + 1} trials finished" in capsys.readouterr().out
    assert len(optuna.load_study(study_name="digits_mlp", storage=study._storage).trials) == len(trials) + 1
