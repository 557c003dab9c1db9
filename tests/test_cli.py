"""The command line as users meet it: help, config printing, and one-line errors for bad input."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from tests.conftest import clean_env, run_main, run_module

TRAIN = "lightning_hydra_template.train"


def test_help_and_cfg_do_not_import_torch(tmp_path):
    for args in (["--help"], ["--cfg", "job"]):
        result = run_module(TRAIN, args, tmp_path)
        assert result.returncode == 0, result.stderr
        if args == ["--help"]:
            assert "optimizer: adam, adamw, rmsprop, sgd" in result.stdout
    import subprocess

    timed = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", TRAIN, "--cfg", "job", "optimizer=sgd"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=clean_env(),
    )
    assert timed.returncode == 0
    assert "_target_: torch.optim.SGD" in timed.stdout
    imported = {line.split("|")[-1].strip() for line in timed.stderr.splitlines() if "|" in line}
    assert "torch" not in imported and "lightning" not in imported
    assert not (tmp_path / "logs").exists(), "printing the config must not create a run directory"


BAD_INPUT = [
    (
        ["optimizer=adamm"],
        "optimizer=adamm: no such option (did you mean adam?); allowed: adam, adamw, rmsprop, sgd",
    ),
    (["experiment=baseline2"], "experiment=baseline2: no such option"),
    (["trainer.max_epoch=3"], "trainer.max_epoch: no such config key (did you mean max_epochs?)"),
    (["trainer.max_epochs=0"], "trainer.max_epochs: got 0; allowed: an integer >= 1"),
    (["trainer.max_epochs=-1"], "trainer.max_epochs: got -1"),
    (["trainer.max_epochs=ten"], "trainer.max_epochs: got 'ten'"),
    (["optimizer.lr=0"], "optimizer.lr: got 0; allowed: a number > 0"),
    (["monitor.mode=maximum"], "monitor.mode: got 'maximum'; allowed: min or max"),
    (["deterministic=maybe"], "deterministic: got 'maybe'; allowed: true or false"),
    (["trainer.max_epochs=[1"], "cannot parse the overrides"),
]


# Refused by the data module's own check_config, which needs `import lightning` (~12 s of CPU in a new
# process): the entry point runs in-process for these; exit status and stderr are the same code path as
# for the rows above, which run as processes.
BAD_DATA_INPUT = [
    (["data.batch_size=abc"], "data.batch_size: got 'abc'; allowed: an integer >= 1"),
    (["data.batch_size=0"], "data.batch_size: got 0; allowed: an integer >= 1"),
    (["data.batch_size=-8"], "data.batch_size: got -8"),
    (
        ["data.val_fraction=0.6", "data.test_fraction=0.5"],
        "data.val_fraction: val_fraction 0.6 + test_fraction 0.5",
    ),
]


def _one_clear_line(code: int, out: str, err: str, message: str, tmp_path: Path) -> None:
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines == [lines[0]] and lines[0].startswith("error: "), err
    assert message in lines[0]
    assert "Traceback" not in err + out
    assert not (tmp_path / "logs").exists(), "a rejected run must not create a run directory"


@pytest.mark.slow
@pytest.mark.parametrize(("overrides", "message"), BAD_INPUT, ids=[" ".join(o) for o, _ in BAD_INPUT])
def test_bad_input_ends_with_one_clear_line(tmp_path, overrides, message):
    result = run_module(TRAIN, overrides, tmp_path, timeout=120)
    _one_clear_line(result.returncode, result.stdout, result.stderr, message, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("overrides", "message"), BAD_DATA_INPUT, ids=[" ".join(o) for o, _ in BAD_DATA_INPUT]
)
def test_bad_data_values_end_with_one_clear_line(tmp_path, monkeypatch, capfd, overrides, message):
    from lightning_hydra_template.train import main

    code, out, err = run_main(main, overrides, monkeypatch, capfd, tmp_path)
    _one_clear_line(code, out, err, message, tmp_path)


@pytest.mark.slow
def test_traceback_on_request(tmp_path, monkeypatch, capfd):
    from lightning_hydra_template.config.errors import ConfigError
    from lightning_hydra_template.train import main

    # refused by the early override checks, in a new process
    result = run_module(TRAIN, ["trainer.max_epochs=0"], tmp_path, env={"HYDRA_FULL_ERROR": "1"}, timeout=120)
    assert result.returncode != 0
    assert "Traceback" in result.stderr and "ConfigError" in result.stderr
    # refused inside the run (the data module's check): re-raised, not turned into one line (in-process)
    with pytest.raises(ConfigError, match="data.batch_size: got 0"):
        run_main(main, ["data.batch_size=0"], monkeypatch, capfd, tmp_path, env={"HYDRA_FULL_ERROR": "1"})


@pytest.mark.slow
def test_drop_last_with_a_batch_larger_than_the_split_is_rejected_at_run_time(tmp_path, monkeypatch, capfd):
    from lightning_hydra_template.train import main

    args = ["data.batch_size=5000", "data.drop_last=true"]
    code, out, err = run_main(main, args, monkeypatch, capfd, tmp_path)
    assert code == 2
    assert err.strip().splitlines()[-1].startswith("error: data.batch_size: 5000 is larger than the")
    assert "Traceback" not in err


def test_console_scripts_are_installed(tmp_path):
    bin_dir = Path(sys.executable).parent
    for script in ("lht-train", "lht-eval"):
        assert (bin_dir / script).exists() or shutil.which(script), script
    import subprocess

    result = subprocess.run(
        [str(bin_dir / "lht-eval"), "ckpt_path=missing.ckpt"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=clean_env(),
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "error: ckpt_path: no checkpoint file at missing.ckpt"
    assert not (tmp_path / "logs").exists()
