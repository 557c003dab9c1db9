"""The printed plan is arithmetic; these tests hold it to the Trainer's real step counter."""

from __future__ import annotations

import pytest

from lightning_hydra_template.runs.plan import plan_run
from lightning_hydra_template.train import train
from tests.conftest import CLASSIFIER, TEST_CONFIGS


def test_seed_example_1000_samples_batch_100_five_epochs():
    plan = plan_run(1000, 100, 5)
    assert plan.iterations_per_epoch == 10
    assert plan.total_iterations == 50
    assert plan.optimizer_steps_per_epoch == 10
    assert plan.total_optimizer_steps == 50
    assert plan.last_batch_size == 100
    assert plan.regime == "mini-batch gradient descent"


def test_partial_last_batch_and_drop_last():
    kept = plan_run(1000, 300, 2)
    assert (kept.iterations_per_epoch, kept.last_batch_size, kept.total_optimizer_steps) == (4, 100, 8)
    dropped = plan_run(1000, 300, 2, drop_last=True)
    assert (dropped.iterations_per_epoch, dropped.last_batch_size, dropped.total_optimizer_steps) == (
        3,
        300,
        6,
    )
    assert "100 samples left out" in dropped.describe()


def test_gradient_accumulation_steps_on_the_last_partial_group():
    plan = plan_run(1000, 100, 3, accumulate_grad_batches=3)
    assert plan.iterations_per_epoch == 10
    assert plan.optimizer_steps_per_epoch == 4  # 3 + 3 + 3 + the final single batch
    assert plan.total_optimizer_steps == 12
    assert plan.samples_per_optimizer_step == 300


def test_regimes_named_as_in_the_training_vocabulary():
    assert plan_run(1000, 1000, 1).regime.startswith("batch gradient descent")
    assert plan_run(1000, 1, 1).regime.startswith("stochastic gradient descent")
    assert plan_run(1000, 32, 1).regime == "mini-batch gradient descent"


def test_world_size_divides_samples_and_reports_global_batch():
    plan = plan_run(1000, 50, 2, world_size=2)
    assert plan.iterations_per_epoch == 10  # 500 samples per device / 50
    assert plan.global_batch_size == 100
    assert "x 2 devices = 100 per iteration" in plan.describe()


def test_limits_fast_dev_run_and_max_steps():
    assert plan_run(1000, 100, 5, limit_train_batches=3).total_optimizer_steps == 15
    assert plan_run(1000, 100, 5, limit_train_batches=0.5).iterations_per_epoch == 5
    fdr = plan_run(1000, 100, 5, fast_dev_run=True)
    assert (fdr.epochs, fdr.total_optimizer_steps) == (1, 1)
    capped = plan_run(1000, 100, 5, max_steps=23)
    assert (capped.total_optimizer_steps, capped.epochs) == (23, 3)


SYNTHETIC = [
    TEST_CONFIGS,
    "data=synthetic",
    *CLASSIFIER,
    "model/net=mlp",
    "model.net.in_features=8",
    "model.net.hidden_sizes=[16]",
    "model.num_classes=2",
    "~callbacks.early_stopping",
    "test=false",
    "logger=none",
]


@pytest.mark.parametrize(
    ("overrides", "expected_per_epoch", "epochs"),
    [
        (["data.batch_size=100", "trainer.max_epochs=5"], 10, 5),
        (["data.batch_size=300", "trainer.max_epochs=2"], 4, 2),
        (["data.batch_size=300", "data.drop_last=true", "trainer.max_epochs=2"], 3, 2),
        (["data.batch_size=100", "trainer.accumulate_grad_batches=3", "trainer.max_epochs=3"], 4, 3),
        (["data.batch_size=full", "trainer.max_epochs=4"], 1, 4),
    ],
)
def test_plan_matches_trainer_global_step(make_cfg, overrides, expected_per_epoch, epochs):
    summary = train(make_cfg([*SYNTHETIC, *overrides]))
    plan = summary["plan"]
    assert plan["train_samples"] == 1000
    assert plan["optimizer_steps_per_epoch"] == expected_per_epoch
    assert plan["total_optimizer_steps"] == expected_per_epoch * epochs
    assert summary["global_step"] == plan["total_optimizer_steps"]
    assert summary["epochs_run"] == epochs


# A LightningDataModule as Lightning's documentation writes one (tests/docs_datamodule.py): 480 training
# samples in ordinary DataLoaders; the plan comes from the loaders and the Trainer's settings.
DOCS_STYLE = [
    TEST_CONFIGS,
    "data=docs_style",
    *CLASSIFIER,
    "model/net=mlp",
    "model.num_classes=2",
    "model.net.in_features=8",
    "model.net.hidden_sizes=[16]",
    "~callbacks.early_stopping",
    "logger=none",
]


@pytest.mark.parametrize(
    ("overrides", "expected_per_epoch", "epochs"),
    [
        (["data.batch_size=32", "trainer.max_epochs=2"], 15, 2),
        (["data.batch_size=100", "trainer.max_epochs=2"], 5, 2),  # the last batch has 80 samples
        (["data.batch_size=100", "trainer.accumulate_grad_batches=2", "trainer.max_epochs=2"], 3, 2),
        (["data.batch_size=32", "+trainer.limit_train_batches=4", "trainer.max_epochs=3"], 4, 3),
    ],
)
def test_plan_of_a_plain_datamodule_matches_trainer_global_step(
    make_cfg, overrides, expected_per_epoch, epochs
):
    summary = train(make_cfg([*DOCS_STYLE, *overrides]))
    plan = summary["plan"]
    assert (plan["train_samples"], plan["val_samples"]) == (480, 120)
    assert plan["optimizer_steps_per_epoch"] == expected_per_epoch
    assert summary["global_step"] == plan["total_optimizer_steps"] == expected_per_epoch * epochs
    assert summary["epochs_run"] == epochs
    assert "test/acc" in summary["test"]  # Lightning set up the test stage itself
    samples_per_epoch = min(480, expected_per_epoch * plan["accumulate_grad_batches"] * plan["batch_size"])
    assert summary["samples_per_second"] * summary["fit_seconds"] == pytest.approx(samples_per_epoch * epochs)


def test_plan_comes_from_the_loaders_not_the_in_memory_api():
    from omegaconf import OmegaConf

    from lightning_hydra_template.runs.plan import plan_for
    from tests.docs_datamodule import BlobsDataModule

    class FakeTrainer:
        world_size = 1

    datamodule = BlobsDataModule(batch_size=50)
    datamodule.setup("fit")
    cfg = OmegaConf.create({"trainer": {"max_epochs": 2}})
    plan = plan_for(cfg, datamodule, FakeTrainer())
    assert (plan.train_samples, plan.batch_size, plan.iterations_per_epoch, plan.last_batch_size) == (
        480,
        50,
        10,
        30,
    )
    assert (plan.val_samples, plan.val_batches, plan.test_samples) == (120, 3, 0)  # test: set up later


def test_fast_dev_run_batch_is_a_full_one():
    fdr = plan_run(1000, 300, 5, fast_dev_run=True)
    assert fdr.last_batch_size == 300 and "the last has" not in fdr.describe()
