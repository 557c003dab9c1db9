"""The built wheel works outside the checkout: its configs ship inside the package, a run started in any
directory writes its run directory there, and user config directories join through hydra.searchpath."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from lightning_hydra_template.config.compose import CONFIG_DIR
from tests.conftest import REPO_ROOT, clean_env

PACKAGE = "lightning_hydra_template"
UV = shutil.which("uv") or str(Path.home() / ".local/bin/uv")
TINY = ["trainer.max_epochs=1", "+trainer.limit_train_batches=2", "extras.plots=false"]


def uv(*args: str, cwd: Path) -> None:
    """uv from its cache where it can (offline), else from the package index."""
    for extra in (["--offline"], []):
        done = subprocess.run([UV, *args, *extra], cwd=cwd, capture_output=True, text=True, env=clean_env())
        if done.returncode == 0:
            return
    raise AssertionError(f"uv {' '.join(args)}: {done.stderr[-2000:]}")


def test_the_checkout_reads_the_top_level_configs():
    assert CONFIG_DIR == REPO_ROOT / "configs"


@pytest.mark.slow
def test_installed_wheel_trains_from_any_directory(tmp_path):
    uv("build", "--wheel", "--out-dir", str(tmp_path / "dist"), cwd=REPO_ROOT)
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        shipped = set(archive.namelist())
    assert {f"{PACKAGE}/configs/train.yaml", f"{PACKAGE}/configs/experiment/baseline.yaml"} <= shipped
    uv("venv", "--quiet", "--python", sys.executable, str(tmp_path / "venv"), cwd=tmp_path)
    uv(
        "pip",
        "install",
        "--quiet",
        "--python",
        str(tmp_path / "venv" / "bin" / "python"),
        str(wheel),
        cwd=tmp_path,
    )

    work = tmp_path / "elsewhere"
    mine = tmp_path / "my_configs" / "experiment"
    mine.mkdir(parents=True)
    (mine / "mine.yaml").write_text(
        "# @package _global_\ndefaults:\n  - override /optimizer: sgd\ntags: [mine]\n"
    )
    work.mkdir()
    env = {k: v for k, v in clean_env().items() if not k.startswith(("LHT_", "VIRTUAL_ENV", "PYTHONPATH"))}
    script = str(tmp_path / "venv" / "bin" / "lht-train")
    searchpath = f"hydra.searchpath=[file://{mine.parent}]"
    composed = subprocess.run(
        [script, searchpath, "experiment=mine", "--cfg", "job"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
    )
    assert composed.returncode == 0, composed.stderr[-2000:]
    assert "- mine" in composed.stdout and "torch.optim.SGD" in composed.stdout

    trained = subprocess.run(
        [script, "experiment=baseline", *TINY], cwd=work, env=env, capture_output=True, text=True, timeout=600
    )
    assert trained.returncode == 0, trained.stderr[-3000:]
    (checkpoint,) = (work / "logs" / "train" / "runs").glob("*/checkpoints/last.ckpt")
    assert (checkpoint.parents[1] / "summary.json").is_file()
    assert not (REPO_ROOT / "logs" / "train" / "runs" / checkpoint.parents[1].name).exists()
