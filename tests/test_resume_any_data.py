"""Exact resume beyond the in-memory loader: a plain LightningDataModule with ordinary DataLoaders, image
files decoded and augmented in 2 DataLoader workers, and a model whose configure_optimizers reads
``trainer.estimated_stepping_batches``. Each run resumed mid-epoch from a checkpoint ends with weights
and optimizer state bitwise equal to the uninterrupted run's (CPU, deterministic=true)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lightning_hydra_template.train import train
from tests.final_state import final_state
from tests.image_data import tiny_image_folder  # example:image_folder
from tests.test_resume import _assert_same_tensors
from tests.test_run_plan import DOCS_STYLE

EXACT = [
    "seed=7",
    "deterministic=true",
    "test=false",
    "callbacks.early_stopping=null",
    "callbacks.step_checkpoint.every_n_steps=1",
    "callbacks.step_checkpoint.filename='step_{step:03d}.ckpt'",
    "+callbacks.final_state._target_=tests.final_state.FinalState",  # last.ckpt may predate the last step
]


def _resume_matches(make_cfg, overrides: list[str], steps: tuple[int, ...], total: int) -> None:
    reference = make_cfg([*EXACT, *overrides])
    assert train(reference)["global_step"] == total
    ref_dir = Path(reference.paths.output_dir)
    expected = final_state(ref_dir)
    for step in steps:
        ckpt = ref_dir / "checkpoints" / f"step_{step:03d}.ckpt"
        resumed = make_cfg(
            [*EXACT, *overrides, f"ckpt_path={ckpt}", "callbacks.step_checkpoint.every_n_steps=1000"]
        )
        assert train(resumed)["global_step"] == total
        final = final_state(resumed.paths.output_dir)
        _assert_same_tensors(expected["state_dict"], final["state_dict"], f"weights after resume at {step}")
        _assert_same_tensors(
            expected["optimizer_states"], final["optimizer_states"], f"optimizer after resume at {step}"
        )


@pytest.mark.slow
def test_plain_lightning_datamodule_resumes_mid_epoch(make_cfg):
    # budget: 3 runs of 30 steps on 8 features, ~20 s on 2 cores
    docs_style = [o for o in DOCS_STYLE if "early_stopping" not in o]  # EXACT turns it off
    overrides = [*docs_style, "trainer.max_epochs=2", "model.net.dropout=0.3"]  # 15 steps per epoch
    _resume_matches(make_cfg, overrides, steps=(7, 22), total=30)


# example:digits
@pytest.mark.slow
def test_loader_position_survives_estimated_stepping_batches(make_cfg):
    # budget: 2 digits runs of 40 steps, ~20 s on 2 cores
    overrides = ["model._target_=tests.docs_datamodule.OneCycleClassifier", "trainer.max_epochs=2"]
    _resume_matches(make_cfg, overrides, steps=(27,), total=40)


# /example:digits


# example:image_folder
@pytest.mark.slow
def test_image_folder_with_two_workers_resumes_mid_epoch(make_cfg, tmp_path):
    # budget: 3 runs of 12 steps on 16x16 images, 2 worker processes per loader, ~60 s on 2 cores
    data = tiny_image_folder(tmp_path, per_class=16, workers=2)  # 32 training images: 4 steps per epoch
    overrides = [*data, "model.net.channels=[8,16]", "model.net.dropout=0.3", "trainer.max_epochs=3"]
    _resume_matches(make_cfg, overrides, steps=(2, 6), total=12)  # mid epoch 1, mid epoch 2


# /example:image_folder
