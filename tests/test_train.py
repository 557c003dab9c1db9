"""End-to-end training through the real entry function with tiny or real configs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from lightning_hydra_template.config.overrides import group_options
from lightning_hydra_template.eval import evaluate
from lightning_hydra_template.train import train
from tests.conftest import SYNTHETIC_MLP, compose_config


@pytest.fixture(scope="module")
def baseline_run(tmp_path_factory) -> dict:
    """The README's baseline as `make train experiment=baseline` runs it (minus the summary table), cut to
    two epochs: what it promises at its full 15 epochs (test accuracy >= 0.97) is checked on the command
    itself, by tests/test_readme.py::test_readme_commands_run_verbatim[make train experiment=baseline]."""
    run_dir = tmp_path_factory.mktemp("baseline") / "run"
    cfg = compose_config(
        [
            "experiment=baseline",
            "trainer.max_epochs=2",
            "~callbacks.model_summary",
            "callbacks.progress_bar.style=lines",
        ],
        output_dir=run_dir,
        tiny=False,
    )
    return train(cfg)


# example:digits
@pytest.mark.slow
@pytest.mark.xdist_group("baseline")  # one worker trains the shared baseline once
def test_baseline_learns_and_keeps_its_best_checkpoint(baseline_run):
    assert baseline_run["epochs_run"] == 2
    assert baseline_run["test"]["test/acc"] >= 0.5  # ten classes: chance is 0.1
    assert Path(baseline_run["best_checkpoint"]).name.startswith("epoch_")


# /example:digits


@pytest.mark.slow
@pytest.mark.xdist_group("baseline")  # one worker trains the shared baseline once
def test_summary_file_matches_returned_summary(baseline_run):
    written = json.loads((Path(baseline_run["run_dir"]) / "summary.json").read_text())
    assert written["test"] == baseline_run["test"]
    assert written["plan"]["total_optimizer_steps"] >= written["global_step"]
    assert written["samples_per_second"] > 0


@pytest.mark.slow
@pytest.mark.xdist_group("baseline")  # one worker trains the shared baseline once
def test_eval_reproduces_the_training_runs_test_metrics(baseline_run, tmp_path):
    cfg = compose_config(
        [f"ckpt_path={baseline_run['best_checkpoint']}"], config_name="eval", output_dir=tmp_path / "eval"
    )
    metrics = evaluate(cfg)
    assert metrics == baseline_run["test"]
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text())["test"] == metrics


# example:digits
@pytest.mark.slow
@pytest.mark.xdist_group("baseline")  # one worker trains the shared baseline once
def test_checkpoints_hold_only_plain_containers(baseline_run):
    checkpoint = torch.load(baseline_run["best_checkpoint"], map_location="cpu", weights_only=True)
    hparams = checkpoint["hyper_parameters"]
    assert hparams["net"]["_target_"].endswith("SmallCNN")
    assert hparams["optimizer"]["_target_"] == "torch.optim.Adam"

    def plain(value) -> bool:
        if isinstance(value, dict):
            return all(isinstance(k, str) and plain(v) for k, v in value.items())
        if isinstance(value, list):
            return all(plain(v) for v in value)
        return value is None or isinstance(value, (str, int, float, bool))

    assert plain(hparams)
    assert plain(checkpoint["lht_config"])
    assert checkpoint["lht_config"]["data"]["batch_size"] == 64


# /example:digits


@pytest.mark.parametrize("experiment", group_options("experiment"))
def test_every_experiment_runs_fast_dev_run(make_cfg, experiment):
    summary = train(make_cfg([f"experiment={experiment}", "debug=fdr"]))
    assert summary["global_step"] == 1
    assert summary["plan"]["total_optimizer_steps"] == 1
    assert set(summary["test"]) >= {"test/loss"}


def test_same_seed_same_numbers_and_seed_zero_is_valid(make_cfg):
    overrides = [
        "seed=0",
        "deterministic=true",
        *SYNTHETIC_MLP,
        "trainer.max_epochs=2",
        "data.batch_size=256",
    ]
    first, second = train(make_cfg(overrides)), train(make_cfg(overrides))
    assert first["test"] == second["test"]
    assert first["best_value"] == second["best_value"]
    other = train(make_cfg([*overrides[1:], "seed=1"]))
    assert other["test"] != first["test"]


# example:digits
def test_train_false_tests_the_untrained_model(make_cfg):
    summary = train(make_cfg(["train=false", "model/net=mlp"]))
    assert summary["global_step"] == 0
    assert summary["test"]["test/acc"] < 0.5


# /example:digits


# example:regression
def test_train_false_with_ckpt_path_tests_that_checkpoint_in_original_units(make_cfg, tmp_path):
    # budget: a 3-epoch regression run on 442 samples and two tests of its checkpoint, ~10 s
    trained = train(make_cfg(["experiment=regression", "trainer.max_epochs=3", "test=false"]))
    last = Path(trained["run_dir"]) / "checkpoints" / "last.ckpt"
    tested = train(make_cfg(["experiment=regression", "train=false", f"ckpt_path={last}"]))
    assert tested["global_step"] == 0
    evaluated = evaluate(
        compose_config([f"ckpt_path={last}"], config_name="eval", output_dir=tmp_path / "eval")
    )
    assert tested["test"] == pytest.approx(evaluated)
    assert tested["test"]["test/mae"] > 10  # disease progression units, not standardised ones (~1)


# /example:regression


# example:digits
def test_regime_experiments_state_their_plan(make_cfg, capsys):
    train(make_cfg(["experiment=full_batch", "trainer.max_epochs=2"]))
    out = capsys.readouterr().out
    assert "Run plan: batch gradient descent" in out
    assert "1 per epoch" in out and "2 in total" in out


# /example:digits


@pytest.mark.parametrize("option", group_options("debug"))
def test_every_debug_mode_runs(make_cfg, option):
    overrides = [f"debug={option}", *SYNTHETIC_MLP, "data.batch_size=256"]
    if option == "overfit":
        overrides.append("trainer.max_epochs=3")
    summary = train(make_cfg(overrides))
    assert summary["global_step"] == summary["plan"]["total_optimizer_steps"]
    if option == "profiler":
        assert list(Path(summary["run_dir"]).glob("profiler/*report*"))


# example:digits
def test_the_hydra_task_returns_the_monitored_value_for_sweepers(make_cfg):
    from lightning_hydra_template.train import _task

    cfg = make_cfg(["model/net=mlp", "data.batch_size=256"])
    value = _task(cfg)
    written = json.loads((Path(cfg.paths.output_dir) / "summary.json").read_text())
    assert value == written["best_value"] == max(row["val/acc"] for row in written["history"])


# /example:digits
