"""A LightningDataModule written the way Lightning's documentation shows, through the real command line:
a test-local data config, the printed plan against the Trainer's step counter, then ``eval`` of its
checkpoint."""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest import REPO_ROOT, run_module


@pytest.mark.slow
def test_docs_style_datamodule_trains_and_evaluates_from_the_command_line(tmp_path):
    # budget: a 2-epoch train process and an eval process, ~40 s on 2 cores
    env = {"PYTHONPATH": str(REPO_ROOT)}  # the datamodule lives in tests/
    args = [
        f"hydra.searchpath=[file://{REPO_ROOT / 'tests' / 'configs'}]",
        "data=docs_style",
        "data.batch_size=50",
        "model/net=mlp",
        "model.num_classes=2",
        "model.net.in_features=8",
        "trainer.max_epochs=2",
        "trainer.accelerator=cpu",
        "callbacks.progress_bar.style=lines",
        "~callbacks.model_summary",
    ]
    trained = run_module("lightning_hydra_template.train", args, tmp_path, env=env)
    assert trained.returncode == 0, trained.stdout + trained.stderr
    printed = re.search(r"epochs\s+2 -> 20 iterations in total", trained.stdout)
    steps = re.search(r"optimizer .* -> 10 steps per epoch, (\d+) in total", trained.stdout)
    assert printed and steps, trained.stdout  # 480 samples / 50 = 10 batches, the last of 30
    assert "samples     train 480 | val 120" in trained.stdout
    (run_dir,) = (tmp_path / "logs" / "train" / "runs").iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["global_step"] == int(steps.group(1)) == 20
    assert summary["plan"]["last_batch_size"] == 30

    evaluated = run_module(
        "lightning_hydra_template.eval", [f"ckpt_path={summary['best_checkpoint']}"], tmp_path, env=env
    )
    assert evaluated.returncode == 0, evaluated.stdout + evaluated.stderr
    (eval_dir,) = (tmp_path / "logs" / "eval" / "runs").iterdir()
    metrics = json.loads((eval_dir / "metrics.json").read_text())["test"]
    assert metrics["test/acc"] == pytest.approx(summary["test"]["test/acc"])


@pytest.mark.slow
def test_contradicting_model_is_one_line_from_the_command_line(tmp_path):
    # budget: one process that stops before training, ~15 s
    done = run_module(
        "lightning_hydra_template.train", ["model.num_classes=3", "trainer.accelerator=cpu"], tmp_path
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: model.num_classes: got 3, but DigitsDataModule serves 10 classes; allowed: 10, "
        "or null to take it from the data"
    ]
    assert not list(tmp_path.rglob("*.ckpt"))
