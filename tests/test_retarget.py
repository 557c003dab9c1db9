"""A checkpoint trained under another package name loads after runs/retarget.py rewrites its names."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from lightning_hydra_template.config.errors import ConfigError, UserError
from lightning_hydra_template.deploy.inputs import held_out_inputs
from lightning_hydra_template.deploy.loading import load_trained
from lightning_hydra_template.runs.retarget import KEY_PREFIX, PACKAGE, retarget_checkpoint
from lightning_hydra_template.train import train
from tests.conftest import compose_config, run_module

TINY = ("+trainer.limit_train_batches=2", "test=false", "extras.plots=false")


def renamed(value: Any, package: str, prefix: str) -> Any:
    """``value`` as a package called ``package`` (entry keys ``prefix*``) would have written it."""
    if isinstance(value, str):
        return value.replace(f"{PACKAGE}.", f"{package}.")
    if isinstance(value, dict):
        return {
            (prefix + k.removeprefix(KEY_PREFIX) if str(k).startswith(KEY_PREFIX) else k): renamed(
                v, package, prefix
            )
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [renamed(v, package, prefix) for v in value]
    return value


@pytest.fixture(scope="module")
def foreign(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A checkpoint of this package, and the same one as if trained under the package ``old_name``."""
    root = tmp_path_factory.mktemp("retarget")
    train(compose_config(TINY, output_dir=root / "run"))
    ours = root / "run" / "checkpoints" / "last.ckpt"
    checkpoint = torch.load(ours, weights_only=True)
    torch.save(renamed(checkpoint, "old_name", "old_name_"), root / "old.ckpt")
    return ours, root / "old.ckpt"


def test_a_renamed_checkpoint_loads_and_predicts_as_before(foreign, tmp_path):
    ours, old = foreign
    old_config = torch.load(old, weights_only=True)["old_name_config"]
    assert old_config["model"]["_target_"].startswith("old_name.models.")
    with pytest.raises(UserError, match="carries no training config"):
        load_trained(old)
    out = retarget_checkpoint(old, tmp_path / "new.ckpt", "old_name")
    restored, original = load_trained(out), load_trained(ours)
    assert torch.load(out, weights_only=True)[f"{KEY_PREFIX}config"]["model"]["_target_"].startswith(
        f"{PACKAGE}."
    )
    inputs = held_out_inputs(original.datamodule, limit=8).inputs
    with torch.no_grad():
        torch.testing.assert_close(restored.model(inputs), original.model(inputs))
    with pytest.raises(ConfigError, match="exists"):
        retarget_checkpoint(old, out, "old_name")
    with pytest.raises(ConfigError, match="no wrong_config entry"):
        retarget_checkpoint(old, tmp_path / "other.ckpt", "wrong")


def test_the_command_reads_the_template_names_from_template_json(foreign, tmp_path):
    _, old = foreign
    (tmp_path / ".template.json").write_text(
        json.dumps({"template": {"package": "old_name", "short": "old_name"}})
    )
    done = run_module(f"{PACKAGE}.runs.retarget", [str(old), "--out", "new.ckpt"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert load_trained(tmp_path / "new.ckpt").model is not None
    (tmp_path / ".template.json").unlink()
    refused = run_module(f"{PACKAGE}.runs.retarget", [str(old)], tmp_path)
    assert refused.returncode == 2 and refused.stderr.strip().splitlines() == [
        "error: --from: required here (no .template.json in this directory); allowed: a package name"
    ]
