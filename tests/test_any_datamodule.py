"""A LightningDataModule written the way Lightning's documentation shows, through the real command line
(the console entry points, in-process): a test-local data config, the printed plan against the Trainer's
step counter, then ``eval`` of its checkpoint."""

from __future__ import annotations

import json
import re

import pytest

from lightning_hydra_template.eval import main as eval_main
from lightning_hydra_template.train import main as train_main
from tests.conftest import CLASSIFIER, REPO_ROOT, run_main


@pytest.mark.slow
def test_docs_style_datamodule_trains_and_evaluates_from_the_command_line(tmp_path, monkeypatch, capfd):
    # budget: a 2-epoch train and an eval, ~10 s on 2 cores (the datamodule lives in tests/, importable here)
    args = [
        f"hydra.searchpath=[file://{REPO_ROOT / 'tests' / 'configs'}]",
        "data=docs_style",
        "data.batch_size=50",
        *CLASSIFIER,
        "model/net=mlp",
        "model.num_classes=2",
        "model.net.in_features=8",
        "trainer.max_epochs=2",
        "trainer.accelerator=cpu",
        "callbacks.progress_bar.style=lines",
        "~callbacks.model_summary",
    ]
    code, out, err = run_main(train_main, args, monkeypatch, capfd, tmp_path)
    assert code == 0, out + err
    printed = re.search(r"epochs\s+2 -> 20 iterations in total", out)
    steps = re.search(r"optimizer .* -> 10 steps per epoch, (\d+) in total", out)
    assert printed and steps, out  # 480 samples / 50 = 10 batches, the last of 30
    assert "samples     train 480 | val 120" in out
    (run_dir,) = (tmp_path / "logs" / "train" / "runs").iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["global_step"] == int(steps.group(1)) == 20
    assert summary["plan"]["last_batch_size"] == 30

    code, out, err = run_main(
        eval_main, [f"ckpt_path={summary['best_checkpoint']}"], monkeypatch, capfd, tmp_path
    )
    assert code == 0, out + err
    (eval_dir,) = (tmp_path / "logs" / "eval" / "runs").iterdir()
    metrics = json.loads((eval_dir / "metrics.json").read_text())["test"]
    assert metrics["test/acc"] == pytest.approx(summary["test"]["test/acc"])


# example:digits
@pytest.mark.slow
def test_contradicting_model_is_one_line_from_the_command_line(tmp_path, monkeypatch, capfd):
    # budget: stops before training, ~2 s
    code, _, err = run_main(
        train_main, ["model.num_classes=3", "trainer.accelerator=cpu"], monkeypatch, capfd, tmp_path
    )
    assert code == 2
    assert err.strip().splitlines() == [
        "error: model.num_classes: got 3, but DigitsDataModule serves 10 classes; allowed: 10, "
        "or null to take it from the data"
    ]
    assert not list(tmp_path.rglob("*.ckpt"))


# /example:digits
