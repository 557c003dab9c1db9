"""Datamodules and models check their own config fields (``check_config``), before a run starts.

The generic validator knows only generic fields; the classes named by ``data._target_`` and
``model._target_`` add theirs, so a user's datamodule is checked the same way and a user's field that
happens to share a template field's name is not.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy

from lightning_hydra_template.config.errors import ConfigError
from lightning_hydra_template.config.validation import validate_config
from lightning_hydra_template.models.classifier import ClassifierModule
from tests.conftest import CLASSIFIER, clean_env, run_main


def run_cli(argv: list[str], tmp_path: Path, monkeypatch, capfd) -> tuple[int, list[str]]:
    """The console entry point in-process; returns the exit status and the non-empty stderr lines."""
    from lightning_hydra_template.train import main

    code, _, err = run_main(main, ["trainer.accelerator=cpu", *argv], monkeypatch, capfd, tmp_path)
    return code, [line for line in err.splitlines() if line.strip()]


def test_a_users_datamodule_is_checked_by_its_own_hook(tmp_path, monkeypatch, capfd):
    missing = tmp_path / "no_such_folder"
    args = ["data._target_=tests.components.FolderData", f"+data.root={missing}"]
    code, lines = run_cli(args, tmp_path, monkeypatch, capfd)
    assert code == 2
    assert lines == [f"error: data.root: got '{missing}'; allowed: an existing directory"]
    assert not (tmp_path / "logs").exists(), "a rejected run must not create a run directory"


# example:digits
def test_a_monitored_metric_the_model_does_not_log_is_refused_before_fitting(tmp_path, monkeypatch, capfd):
    code, lines = run_cli(["monitor.metric=val/accuracy"], tmp_path, monkeypatch, capfd)
    assert code == 2
    assert lines == [
        "error: monitor.metric: got 'val/accuracy'; allowed: val/loss, val/acc, val/f1, val/acc_best "
        "(the validation metrics ClassifierModule logs)"
    ]
    assert not (tmp_path / "logs").exists()


# /example:digits


@pytest.mark.parametrize(
    ("overrides", "logged"),
    [
        (["experiment=regression"], "val/loss, val/mae, val/rmse, val/r2, val/r2_best"),  # example:regression
        # example:segmentation
        (["experiment=segmentation"], "val/loss, val/pixel_acc, val/miou, val/dice, val/miou_best"),
        # /example:segmentation
    ],
)
def test_each_task_lists_the_metrics_it_logs(make_cfg, overrides, logged):
    validate_config(make_cfg(overrides))  # the experiment's own monitor is logged
    with pytest.raises(ConfigError, match=f"allowed: {logged} ") as excinfo:
        validate_config(make_cfg([*overrides, "monitor.metric=val/acc"]))
    assert excinfo.value.field == "monitor.metric"


def test_a_model_that_declares_no_metrics_is_not_checked(make_cfg):
    validate_config(
        make_cfg(["model._target_=tests.components.UndeclaredClassifier", "monitor.metric=val/auc"])
    )


def test_declared_metric_names_must_match_the_built_metrics():
    class Drifted(ClassifierModule):
        metric_names = ("acc",)  # build_metrics also returns f1

    mlp = {
        "_target_": "lightning_hydra_template.nets.mlp.MLP",
        "in_features": 4,
        "hidden_sizes": [],
        "out_features": 10,
    }
    with pytest.raises(TypeError, match="metric_names"):
        Drifted(net=mlp, optimizer={"_target_": "torch.optim.SGD", "lr": 0.1})

    class Extended(ClassifierModule):
        metric_names = ("acc", "f1", "top2")

        def build_metrics(self, prefix: str) -> MetricCollection:
            metrics = super().build_metrics(prefix)
            metrics.add_metrics({"top2": MulticlassAccuracy(self.num_classes, top_k=2)})
            return metrics

    assert "val/top2" in Extended.validation_metrics()
    Extended(net=mlp, optimizer={"_target_": "torch.optim.SGD", "lr": 0.1})


def test_template_rules_do_not_apply_to_a_users_fields_of_the_same_name(make_cfg):
    shapes_rules = ["data.image_size=3", "data.min_shapes=0", "data.max_radius=20"]
    # example:segmentation
    with pytest.raises(ConfigError) as excinfo:
        validate_config(make_cfg(["experiment=segmentation", *shapes_rules]))
    assert excinfo.value.field == "data.image_size"
    # /example:segmentation
    user = ["data._target_=tests.components.PlainData", "data.batch_size=0", *CLASSIFIER]  # not a U-Net
    user += [f"++{rule}" for rule in shapes_rules]
    validate_config(make_cfg(user))  # PlainData has no check_config: nothing of the template applies


def test_a_component_that_cannot_be_imported_is_named(make_cfg):
    with pytest.raises(ConfigError, match="cannot import 'tests.components.NoSuchData'") as excinfo:
        validate_config(make_cfg(["data._target_=tests.components.NoSuchData"]))
    assert excinfo.value.field == "data._target_"


def test_generic_checks_come_before_the_components(make_cfg):
    # a bad generic value is reported even when the data class cannot be imported
    cfg = make_cfg(["data._target_=tests.components.NoSuchData", "optimizer.lr=0"])
    with pytest.raises(ConfigError) as excinfo:
        validate_config(cfg)
    assert excinfo.value.field == "optimizer.lr"


@pytest.mark.slow  # a fresh interpreter
def test_a_generic_error_does_not_wait_for_torch(tmp_path):
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "lightning_hydra_template.train", "optimizer.lr=0"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**clean_env(), "LHT_LOG_DIR": str(tmp_path / "logs")},
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == "error: optimizer.lr: got 0; allowed: a number > 0"
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if "|" in line}
    assert "lightning_hydra_template.config.validation" in imported
    assert "torch" not in imported and "lightning" not in imported
