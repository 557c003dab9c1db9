"""The regression and segmentation experiments and the plots, through the real train()/evaluate() paths.

Budget: about 30 s on 2 cores (fast_dev_run and 2-epoch runs on tiny data).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf
from PIL import Image

from lightning_hydra_template.eval import evaluate
from lightning_hydra_template.runs.build import instantiate_group
from lightning_hydra_template.runs.model_from_data import build_model
from lightning_hydra_template.train import train

# Shapes shrunk to a few small images so a segmentation run takes about a second.
TINY_SHAPES = (
    "data.num_samples=40",
    "data.image_size=32",
    "data.min_radius=3",
    "data.max_radius=6",
    "data.batch_size=8",
    "model.net.channels=[4,8]",
)


def assert_png(path: Path) -> None:
    assert path.is_file(), f"{path.name} was not written"
    with Image.open(path) as image:
        image.verify()
        assert image.format == "PNG" and image.size[0] > 100 and image.size[1] > 100


@pytest.mark.parametrize(
    "overrides",
    [
        ["experiment=regression"],  # example:regression
        ["experiment=segmentation"],  # example:segmentation
        ["experiment=segmentation", "model/loss=ce"],  # example:segmentation
        ["experiment=segmentation", "model/loss=dice"],  # example:segmentation
        ["experiment=segmentation", "model/loss=iou"],  # example:segmentation
        ["experiment=segmentation", "model/loss=ce_dice", "model.loss.ce_weight=0.5"],  # example:segmentation
        ["data=diabetes", "model=regressor"],  # example:regression
        ["data=shapes", "model=segmenter", "model/net=unet"],  # example:segmentation
    ],
    ids=lambda o: " ".join(o),
)
def test_new_options_compose_and_instantiate(make_cfg, overrides):
    cfg = make_cfg([*overrides, *(TINY_SHAPES if "shapes" in " ".join(overrides) else ())])
    data = instantiate(cfg.data)
    data.setup()
    model = build_model(cfg, data)
    inputs, targets = next(iter(data.train_dataloader()))
    loss = model.compute_loss(model(inputs), targets)
    assert loss.ndim == 0 and loss.item() > 0
    callbacks = instantiate_group(cfg.callbacks)
    assert any(type(c).__name__ == "TaskPlots" for c in callbacks)
    if "segmentation" in overrides[0]:
        assert cfg.monitor.metric == "val/miou"
        assert type(model.criterion).__name__ == cfg.model.loss._target_.rsplit(".", 1)[-1]
    if "regression" in overrides[0]:
        assert cfg.monitor.metric == "val/r2"


@pytest.mark.parametrize(
    ("experiment", "extra", "monitor", "plot_kind"),
    [
        ("regression", (), "val/r2", "regression"),  # example:regression
        ("segmentation", TINY_SHAPES, "val/miou", "segmentation"),  # example:segmentation
    ],
)
def test_experiment_fast_dev_run_writes_plots(make_cfg, experiment, extra, monitor, plot_kind):
    cfg = make_cfg([f"experiment={experiment}", "debug=fdr", "extras.plots=true", *extra])
    summary = train(cfg)
    run_dir = Path(cfg.paths.output_dir)
    assert summary["monitor"] == monitor
    assert summary["global_step"] == 1
    metric = monitor.split("/")[1]
    assert f"test/{metric}" in summary["test"]
    for name in ("curves.png", f"{plot_kind}_val.png", f"{plot_kind}_test.png"):
        assert_png(run_dir / name)
    if plot_kind == "segmentation":
        assert_png(run_dir / "confusion_matrix.png")


# example:digits
def test_classifier_writes_confusion_matrix(make_cfg):
    cfg = make_cfg(["debug=fdr", "extras.plots=true"])
    train(cfg)
    run_dir = Path(cfg.paths.output_dir)
    assert_png(run_dir / "confusion_matrix.png")
    assert_png(run_dir / "curves.png")
    assert not (run_dir / "regression_val.png").exists()


# /example:digits


# example:regression
def test_plots_switch_off(make_cfg):
    cfg = make_cfg(["experiment=regression", "+trainer.fast_dev_run=true", "extras.plots=false"])
    train(cfg)
    assert not list(Path(cfg.paths.output_dir).glob("*.png"))


# /example:regression


def test_fast_dev_run_draws_no_figures_like_it_logs_nothing(make_cfg):
    cfg = make_cfg(["debug=fdr"])
    assert cfg.extras.plots is False
    train(cfg)
    run_dir = Path(cfg.paths.output_dir)
    assert not list(run_dir.glob("*.png"))
    assert (run_dir / "summary.json").is_file()


# example:regression
@pytest.mark.slow
def test_regression_logs_figures_and_checkpoint_carries_target_scale(make_cfg):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from lightning_hydra_template.runs.checkpoint import load_checkpoint

    cfg = make_cfg(["experiment=regression", "trainer.max_epochs=2", "logger=many"])
    summary = train(cfg)
    run_dir = Path(cfg.paths.output_dir)
    events = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"images": 0})
    events.Reload()
    images = events.Tags()["images"]
    assert {"plots/val_regression", "plots/curves", "plots/test_regression_final"} <= set(images)
    assert len(events.Images("plots/val_regression")) == 2  # one per validation epoch
    for name in ("curves.png", "regression_val.png", "regression_test.png"):
        assert_png(run_dir / name)

    checkpoint = load_checkpoint(summary["best_checkpoint"])
    data = instantiate(cfg.data)
    data.setup()
    assert checkpoint["state_dict"]["target_mean"].item() == pytest.approx(data.target_mean)
    assert checkpoint["state_dict"]["target_std"].item() == pytest.approx(data.target_std)

    eval_cfg = make_cfg([f"ckpt_path={summary['best_checkpoint']}"], config_name="eval")
    metrics = evaluate(eval_cfg)
    assert metrics["test/r2"] == pytest.approx(summary["test"]["test/r2"], abs=1e-5)
    assert metrics["test/mae"] == pytest.approx(summary["test"]["test/mae"], abs=1e-4)
    assert OmegaConf.select(cfg, "monitor.metric") == "val/r2"


# /example:regression
