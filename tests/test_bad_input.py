"""Bad input: one clear line, exit 2, no traceback, and nothing of an earlier run lost.

Runs the real console entry point in-process (sys.argv), so each case costs no interpreter start.
"""

from __future__ import annotations

import re
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


def run_cli(argv: list[str], monkeypatch, capfd, log_dir: Path, main=train_main) -> tuple[int, str, str]:
    monkeypatch.setenv("LHT_LOG_DIR", str(log_dir))
    # each CLI process has its own run id; in one test process, give each invocation its own
    monkeypatch.setenv("LHT_RUN_ID", f"inv{next(_invocations)}")
    monkeypatch.setattr(sys, "argv", ["train", *argv])
    GlobalHydra.instance().clear()
    code = 0
    try:
        main()
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


# example:digits
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


# /example:digits


@pytest.mark.slow
def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch, capfd):
    monkeypatch.chdir(tmp_path)
    logs = tmp_path / "logs"
    args = [
        *QUICK,
        "optimizer=sgd",
        "optimizer.lr=1e30",
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


def _real_checkpoint(path: Path) -> Path:
    torch.save({"state_dict": {"w": torch.zeros(64, 64)}, "epoch": 0}, path)  # torch's zip format
    return path


def test_bad_values_end_before_a_run_directory_or_torch(tmp_path, monkeypatch, capfd):
    """Each row ends in one line naming the field, exit 2, no traceback, and no run directory:
    the checks run on the composed config before Hydra starts the run (and before torch is needed)."""
    from lightning_hydra_template.eval import main as eval_main

    monkeypatch.chdir(tmp_path)
    logs = tmp_path / "logs"
    empty = tmp_path / "empty.ckpt"
    empty.write_bytes(b"")
    whole = _real_checkpoint(tmp_path / "whole.ckpt").read_bytes()
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(whole[: len(whole) // 2])
    not_a_ckpt = tmp_path / "notes.ckpt"
    not_a_ckpt.write_text("not a checkpoint")
    a_file = tmp_path / "a_file"
    a_file.write_text("x")

    no_gpu = {"CUDA_VISIBLE_DEVICES": "-1"}
    cases = [
        # (entry point, overrides, environment, start of the line after "error: ")
        (train_main, ["trainer.accelerator=tpu"], {}, "trainer.accelerator: tpu requested but torch_xla"),
        (
            train_main,
            ["trainer=gpu"],
            no_gpu,
            "trainer.accelerator: gpu requested but no CUDA GPU is visible",
        ),
        (
            train_main,
            ["trainer=gpu_bf16"],
            {"CUDA_VISIBLE_DEVICES": ""},
            "trainer.accelerator: gpu requested",
        ),
        (train_main, ["trainer=gpu_fp16"], no_gpu, "trainer.accelerator: gpu requested"),
        (train_main, ["trainer.accelerator=cuda"], no_gpu, "trainer.accelerator: cuda requested"),
        (
            eval_main,
            [f"ckpt_path={tmp_path / 'whole.ckpt'}", "trainer=gpu"],
            no_gpu,
            "trainer.accelerator: gpu requested",
        ),
        (train_main, [f"ckpt_path={empty}"], {}, f"ckpt_path: {empty} is empty (0 bytes)"),
        (train_main, [f"ckpt_path={truncated}"], {}, f"ckpt_path: {truncated} is not a readable checkpoint"),
        (eval_main, [f"ckpt_path={empty}"], {}, f"ckpt_path: {empty} is empty (0 bytes)"),
        (eval_main, [f"ckpt_path={truncated}"], {}, f"ckpt_path: {truncated} is not a readable checkpoint"),
        (eval_main, [f"ckpt_path={not_a_ckpt}"], {}, f"ckpt_path: {not_a_ckpt} is not a PyTorch checkpoint"),
        (
            train_main,
            ["scheduler=cosine", "scheduler.T_max=0"],
            {},
            "scheduler.T_max: got 0; allowed: an integer >= 1",
        ),
        (train_main, ["scheduler=cosine", "scheduler.eta_min=-1"], {}, "scheduler.eta_min: got -1; allowed"),
        (train_main, ["scheduler=step", "scheduler.step_size=0"], {}, "scheduler.step_size: got 0; allowed"),
        (
            train_main,
            ["scheduler=step", "scheduler.gamma=0"],
            {},
            "scheduler.gamma: got 0; allowed: a number > 0",
        ),
        (train_main, ["scheduler=step", "scheduler.gamma=-0.5"], {}, "scheduler.gamma: got -0.5; allowed"),
        (
            train_main,
            ["scheduler=plateau", "scheduler.patience=-1"],
            {},
            "scheduler.patience: got -1; allowed",
        ),
        (train_main, ["scheduler=plateau", "scheduler.factor=1.5"], {}, "scheduler.factor: got 1.5; allowed"),
        (train_main, ["scheduler=plateau", "scheduler.factor=0"], {}, "scheduler.factor: got 0; allowed"),
        (
            train_main,
            ["hydra.run.dir=/proc/x"],
            {},
            "hydra.run.dir: cannot write run directories under /proc/x",
        ),
        (
            train_main,
            ["hydra.run.dir=/proc/x/${now:%H-%M}"],
            {},
            "hydra.run.dir: cannot write run directories",
        ),
        (
            train_main,
            [f"hydra.run.dir={a_file}/run"],
            {},
            f"hydra.run.dir: cannot write run directories under {a_file}",
        ),
        (
            train_main,
            ["-m", f"hydra.sweep.dir={a_file}/sweep", "optimizer=adam,sgd"],
            {},
            f"hydra.sweep.dir: cannot write run directories under {a_file}/sweep: {a_file} is not a directory",
        ),
        (
            train_main,
            ["-m", "trainer=gpu", "optimizer=adam,sgd"],
            no_gpu,
            "trainer.accelerator: gpu requested",
        ),
        (
            train_main,
            ["-m", "hydra.callbacks.sweep_report.enabled=maybe", "optimizer=adam,sgd"],
            {},
            "hydra.callbacks.sweep_report.enabled: got 'maybe'; allowed: true or false",
        ),
        (
            train_main,
            ["callbacks.early_stopping.patience=x"],
            {},
            "callbacks.early_stopping.patience: got 'x'",
        ),
        (
            train_main,
            ["callbacks.early_stopping.patience=-1"],
            {},
            "callbacks.early_stopping.patience: got -1",
        ),
        (
            train_main,
            ["callbacks.early_stopping.min_delta=abc"],
            {},
            "callbacks.early_stopping.min_delta: got",
        ),
        (
            train_main,
            ["callbacks.step_checkpoint.every_n_steps=0"],
            {},
            "callbacks.step_checkpoint.every_n_steps",
        ),
        (
            train_main,
            ["callbacks.model_checkpoint.save_top_k=-2"],
            {},
            "callbacks.model_checkpoint.save_top_k",
        ),
        (
            train_main,
            ["callbacks.model_checkpoint.save_last=maybe"],
            {},
            "callbacks.model_checkpoint.save_last",
        ),
        (train_main, ["callbacks.plots.every_n_epochs=x"], {}, "callbacks.plots.every_n_epochs: got 'x'"),
        (train_main, ["callbacks.progress_bar.style=fancy"], {}, "callbacks.progress_bar.style: got 'fancy'"),
        (
            train_main,
            ["callbacks.lr_monitor.logging_interval=batch"],
            {},
            "callbacks.lr_monitor.logging_interval",
        ),
        (
            train_main,
            ["extras.print_config=maybe"],
            {},
            "extras.print_config: got 'maybe'; allowed: true or false",
        ),
        (
            train_main,
            ["extras.ignore_warnings=1"],
            {},
            "extras.ignore_warnings: got 1; allowed: true or false",
        ),
        (
            train_main,
            ["extras.plots=yes please"],
            {},
            "extras.plots: got 'yes please'; allowed: true or false",
        ),
        (train_main, ["deterministic=maybe"], {}, "deterministic: got 'maybe'; allowed: true or false"),
        (train_main, ["trainer.benchmark=sometimes"], {}, "trainer.benchmark: got 'sometimes'"),
        (
            train_main,
            ["hydra.callbacks.sweep_report.enabled=maybe"],
            {},
            "hydra.callbacks.sweep_report.enabled",
        ),
        (eval_main, [f"ckpt_path={truncated}", "extras.print_config=maybe"], {}, "extras.print_config: got"),
    ]
    for main, overrides, env, expected in cases:
        with monkeypatch.context() as patch:
            for key, value in env.items():
                patch.setenv(key, value)
            code, out, err = run_cli(overrides, patch, capfd, logs, main=main)
        lines = err.strip().splitlines()
        assert code == 2, (overrides, out, err)
        assert len(lines) == 1 and lines[0].startswith(f"error: {expected}"), (overrides, err)
        assert "Traceback" not in out + err, overrides
        assert not logs.exists(), f"{overrides} created {sorted(logs.rglob('*'))}"
    assert not (a_file.parent / "run").exists() and a_file.read_text() == "x"

    # a multirun is checked on what holds for every job: a swept device or value is each job's business
    from lightning_hydra_template.config.overrides import check_overrides

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    check_overrides(
        "train", ["trainer=gpu,cpu", "data.batch_size=0,32", f"hydra.sweep.dir={logs}/s"], multirun=True
    )
    assert not logs.exists()


@pytest.mark.slow
def test_gpu_request_without_a_gpu_fails_before_torch_is_imported(tmp_path):
    import subprocess

    from tests.conftest import clean_env

    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "lightning_hydra_template.train", "trainer=gpu"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**clean_env(), "CUDA_VISIBLE_DEVICES": "-1", "LHT_LOG_DIR": str(tmp_path / "logs")},
    )
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if "import time:" in line}
    messages = [line for line in result.stderr.splitlines() if "import time:" not in line]
    assert result.returncode == 2
    assert messages == [
        "error: trainer.accelerator: gpu requested but no CUDA GPU is visible "
        "(CUDA_VISIBLE_DEVICES='-1' hides every GPU); use trainer=cpu or trainer.accelerator=auto"
    ]
    assert "torch" not in imported and "lightning" not in imported
    assert not (tmp_path / "logs").exists()


def test_cheap_device_signs_decide_only_when_sure(tmp_path, monkeypatch):
    from lightning_hydra_template.config import devices

    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr(devices.sys, "platform", "linux")
    monkeypatch.setattr(devices, "_GPU_NODES", (str(tmp_path / "nvidia*"),))
    assert "no /dev/nvidia* device" in devices.accelerator_unavailable("gpu")
    (tmp_path / "nvidia0").touch()  # a device node: only torch can tell whether the driver works
    assert devices.accelerator_unavailable("gpu") is None
    assert devices.accelerator_unavailable("cuda") is None
    for value, hidden in (("", True), ("-1", True), (" -1,0", True), ("0", False), ("1,-1", False)):
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", value)
        assert (devices.accelerator_unavailable("gpu") is not None) == hidden, value
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-0b7f")
    assert devices.accelerator_unavailable("gpu") is None
    assert "only exists on macOS" in devices.accelerator_unavailable("mps")
    monkeypatch.setattr(devices.sys, "platform", "darwin")
    assert devices.accelerator_unavailable("mps") is None
    assert "macOS has no CUDA" in devices.accelerator_unavailable("gpu")
    assert devices.accelerator_unavailable("cpu") is None and devices.accelerator_unavailable("auto") is None


def test_damaged_checkpoint_files_are_one_line_errors_when_loaded(tmp_path):
    """The path after Hydra started (a SLURM auto-resume, eval): one line, never an IndexError."""
    from lightning_hydra_template.config.errors import UserError
    from lightning_hydra_template.runs.checkpoint import load_checkpoint

    whole = _real_checkpoint(tmp_path / "whole.ckpt")
    assert load_checkpoint(whole)["epoch"] == 0
    rows = [
        (b"", "is empty (0 bytes)"),
        (whole.read_bytes()[:300], "is not a readable checkpoint (truncated or corrupt?)"),
        (b"\x80\x02", "not a readable checkpoint (truncated or corrupt?): EOFError"),  # legacy format, cut
        (b"\x80", "not a readable checkpoint (truncated or corrupt?)"),
    ]
    for content, expected in rows:
        path = tmp_path / "damaged.ckpt"
        path.write_bytes(content)
        with pytest.raises(UserError) as err:
            load_checkpoint(path)
        assert expected in str(err.value) and len(str(err.value).splitlines()) == 1, content


def test_a_mistyped_make_target_fails_with_the_list(tmp_path):
    import shutil
    import subprocess

    from tests.conftest import REPO_ROOT, clean_env

    if not shutil.which("make"):
        pytest.skip("make is not installed")

    def make(*words: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["make", "-n", *words], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, env=clean_env()
        )

    for words in (["trian", "experiment=baseline"], ["nosuch"], ["--", "--cfg", "job"]):
        result = make(*words)
        assert result.returncode != 0, words
        (line,) = result.stderr.strip().splitlines()
        assert f"make {words[0] if words[0] != '--' else '--cfg'}: no such target" in line, line
        targets = re.search(r"^TARGETS := (.+)$", (REPO_ROOT / "Makefile").read_text(), flags=re.M).group(1)
        assert f"allowed: {targets}" in line and "train" in targets.split()
    assert "(did you mean train?)" in make("trian").stderr
    passed = make("train", "experiment=baseline", "--", "--cfg", "job")
    assert passed.returncode == 0, passed.stderr
    assert "-m lightning_hydra_template.train" in passed.stdout and "--cfg job" in passed.stdout
