"""Optuna search: search-space checks, two workers on one SQLite study, rerun continues the study; trials
are scored on validation only, the best one is tested once, its written overrides reproduce it, and the
storage password is printed and saved nowhere."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from omegaconf import OmegaConf

from lightning_hydra_template.config.errors import ConfigError
from lightning_hydra_template.search import as_overrides, reproducing_overrides, search_space, suggest
from tests.conftest import run_main


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


# example:digits
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


# /example:digits


# example:digits
def test_best_params_overrides_select_the_search_space_and_drop_search_settings() -> None:
    typed = [
        "hparams_search=digits_mlp",
        "search.n_trials=40",
        "search.worker_index=1",
        "trainer.max_epochs=3",
    ]
    assert reproducing_overrides(typed, {"optimizer.lr": 0.01, "data.batch_size": 32}) == [
        "hparams_search=digits_mlp",
        "trainer.max_epochs=3",
        "optimizer.lr=0.01",
        "data.batch_size=32",
    ]


# /example:digits


URL_PASSWORD = "search-db-pass-5150"


# example:digits
@pytest.mark.slow
def test_trials_use_validation_only_and_best_params_reproduce_the_best_trial(
    tmp_path: Path, monkeypatch, capfd
) -> None:
    """Budget: 2 trials of 2 tiny epochs in-process, one test of the best checkpoint, then one
    `make train` process with the written overrides (~40-90 s on 2 busy cores).

    The study's storage URL carries a password. No database server is reachable offline and SQLite URLs
    cannot hold a password, so the connection itself goes to a SQLite file; every place the URL is
    printed or saved is the real code path."""
    from lightning_hydra_template import search

    opened: list[str] = []
    real_open_storage = search.open_storage

    def open_storage(url: str, attempts: int = 5):
        opened.append(url)
        return real_open_storage(f"sqlite:///{tmp_path / 'study.db'}", attempts)

    storage = f"postgresql://optuna:{URL_PASSWORD}@db-host:5432/optuna"
    args = [*SEARCH_ARGS[:-1], "search.n_trials=2", f"search.storage={storage}"]  # test=true (default)
    monkeypatch.setattr(search, "open_storage", open_storage)
    monkeypatch.setenv("LHT_LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.delenv("LHT_MAKE_OVERRIDES", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["search", *args])
    search.main()
    out = capfd.readouterr().out
    assert opened == [storage]

    directory = tmp_path / "logs" / "search" / "digits_mlp"
    for trial in ("0", "1"):  # trials are scored on validation data only
        assert json.loads((directory / trial / "summary.json").read_text())["test"] == {}
    best = OmegaConf.load(directory / "best_params.yaml")
    tested = json.loads((directory / search.BEST_TEST_FILE).read_text())
    assert tested["trial"] == best.trial and set(tested["test"]) >= {"test/acc", "test/loss"}
    assert OmegaConf.to_container(best.test_of_best_trial) == tested["test"]
    report = (directory / "report.md").read_text()
    assert "## Test split: the best trial only" in report and f"trial {best.trial}" in report
    assert "## Test metrics (best checkpoint)" not in report  # no per-trial test metrics
    assert "(test split, this trial only)" in out
    assert "hparams_search=digits_mlp" in best.overrides
    assert not any(o.startswith("search.") for o in best.overrides)
    assert best.command.startswith("make train hparams_search=digits_mlp ")
    # the storage password is nowhere: not printed, not in any file of the search directory
    assert "postgresql://optuna:***@db-host:5432/optuna" in out and URL_PASSWORD not in out
    for path in directory.rglob("*"):
        if path.is_file():
            assert URL_PASSWORD.encode() not in path.read_bytes(), path

    # rerunning the finished study tests nothing again: the best trial's test was computed once
    search.main()
    assert "Testing the best trial" not in capfd.readouterr().out

    # the written overrides, pasted into `make train`, train the best trial again (the entry point
    # in-process, as in a new process: its own log folder, no make variables)
    from lightning_hydra_template.train import main as train_main

    again = tmp_path / "again"
    again.mkdir()
    code, _, err = run_main(train_main, list(best.overrides), monkeypatch, capfd, again)
    assert code == 0, err[-2000:]
    (summary_path,) = (again / "logs").rglob("summary.json")
    assert json.loads(summary_path.read_text())["best_value"] == pytest.approx(best.value, abs=1e-6)


# /example:digits
