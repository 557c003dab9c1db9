"""Bad input: one clear line, exit 2, no traceback, and nothing of an earlier run lost.

Runs the real console entry point in-process (sys.argv), so each case costs no interpreter start.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from hydra.core.global_hydra import GlobalHydra

from lightning_hydra_template.train import main as train_main

QUICK = [
    "trainer.max_epochs=1",
    "trainer.accelerator=cpu",
    "~callbacks.model_summary",
    "callbacks.progress_bar.style=lines",
    "data.batch_size=128",
    "test=false",
]


_invocations = iter(range(10_000))


def run_cli(argv: list[str], monkeypatch, capfd, log_dir: Path) -> tuple[int, str, str]:
    monkeypatch.setenv("LHT_LOG_DIR", str(log_dir))
    # each CLI process has its own run id; in one test process, give each invocation its own
    monkeypatch.setenv("LHT_RUN_ID", f"inv{next(_invocations)}")
    monkeypatch.setattr(sys, "argv", ["train", *argv])
    GlobalHydra.instance().clear()
    code = 0
    try:
        train_main()
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    finally:
        GlobalHydra.instance().clear()
    out, err = capfd.readouterr()
    return code, out, err


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}


class _Evil:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


@pytest.mark.slow
def test_bad_input_catalogue(tmp_path, monkeypatch, capfd):
    # budget: one good 1-epoch run + 17 failing invocations in-process, ~25 s
    monkeypatch.chdir(tmp_path)
    logs = tmp_path / "logs"
    code, out, err = run_cli(QUICK, monkeypatch, capfd, logs)
    assert code == 0, err
    (good_run,) = list((logs / "train" / "runs").iterdir())
    good_ckpt = good_run / "checkpoints" / "last.ckpt"
    assert good_ckpt.is_file()

    corrupt = tmp_path / "corrupt.ckpt"
    corrupt.write_bytes(good_ckpt.read_bytes()[:5000])
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "x": _Evil(str(marker))}, evil)
    not_a_dir = tmp_path / "a_file"
    not_a_dir.write_text("x")

    cases = [
        # (overrides, text the single error line must contain)
        (["optimizer=adamm"], "optimizer=adamm: no such option (did you mean adam?); allowed: adam, adamw"),
        (["trainer.max_epoch=3"], "trainer.max_epoch: no such config key (did you mean max_epochs?)"),
        (["trainer.max_epochs=abc"], "trainer.max_epochs: got 'abc'; allowed: an integer >= 1"),
        (["data.batch_size=0"], "data.batch_size: got 0; allowed: an integer >= 1"),
        (["data.batch_size=-5"], "data.batch_size: got -5; allowed"),
        (["data.batch_size=5000", "data.drop_last=true"], "data.batch_size: 5000 is larger than the 1257"),
        (["trainer.max_epochs=-1"], "trainer.max_epochs: got -1; allowed: an integer >= 1"),
        (["data.val_fraction=0.6", "data.test_fraction=0.5"], "their sum must be < 1"),
        (["optimizer.lr=0"], "optimizer.lr: got 0; allowed: a number > 0"),
        (["optimizer.lr=-0.1"], "optimizer.lr: got -0.1; allowed: a number > 0"),
        ([f"ckpt_path={tmp_path}/missing.ckpt"], "ckpt_path: no checkpoint file at"),
        ([f"ckpt_path={corrupt}"], "not a readable checkpoint (truncated or corrupt?)"),
        ([f"ckpt_path={good_ckpt}", "model/net=mlp"], "holds another network"),
        ([f"ckpt_path={evil}"], "refused to load"),
        ([f"paths.log_dir={not_a_dir}/logs"], "paths.log_dir: cannot write run directories under"),
        (
            ["resume=" + str(tmp_path / "nowhere")],
            "resume: " + str(tmp_path / "nowhere") + " is not a directory",
        ),
    ]
    if not torch.cuda.is_available():
        cases.append((["trainer=gpu"], "trainer.accelerator: gpu requested but no CUDA GPU is visible"))

    for overrides, expected in cases:
        before = snapshot(logs)
        base = [a for a in QUICK if not (a.startswith("trainer.accelerator") and "trainer=gpu" in overrides)]
        code, out, err = run_cli([*base, *overrides], monkeypatch, capfd, logs)
        lines = err.strip().splitlines()
        assert code == 2, (overrides, out, err)
        assert lines and lines[-1].startswith("error: "), (overrides, err)
        assert expected in lines[-1], (overrides, lines[-1])
        assert "Traceback" not in out + err, overrides
        after = snapshot(logs)
        assert {k: after.get(k) for k in before} == before, f"{overrides} changed an earlier run"
    assert not marker.exists(), "the crafted checkpoint ran code"


@pytest.mark.slow
def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch, capfd):
    monkeypatch.chdir(tmp_path)
    logs = tmp_path / "logs"
    args = [
        *QUICK,
        "optimizer=sgd",
        "optimizer.lr=1e30",
        "model/net=mlp",
        "callbacks.step_checkpoint.every_n_steps=1",
    ]
    code, out, err = run_cli(args, monkeypatch, capfd, logs)
    line = err.strip().splitlines()[-1]
    assert code == 2, err
    assert line.startswith("error: train/loss: became ") and "training stopped" in line, line
    assert "Traceback" not in out + err
    (run_dir,) = list((logs / "train" / "runs").iterdir())
    last = run_dir / "checkpoints" / "last.ckpt"
    assert f"the last good checkpoint is {last}" in line
    state = torch.load(last, map_location="cpu", weights_only=True)["state_dict"]
    assert all(torch.isfinite(t).all() for t in state.values())
