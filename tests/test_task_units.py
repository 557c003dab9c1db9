"""Regression and segmentation building blocks against hand-computed values (no training)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from scipy import ndimage  # example:segmentation

from lightning_hydra_template.callbacks.curves import LearningCurves
from lightning_hydra_template.data.base import split_indices  # example:regression
from lightning_hydra_template.data.diabetes import DiabetesDataModule  # example:regression

# example:segmentation
from lightning_hydra_template.data.shapes import CLASS_NAMES, ShapesDataModule, generate_shapes

# /example:segmentation
from lightning_hydra_template.models.losses import CrossEntropyDiceLoss, DiceLoss, JaccardLoss
from lightning_hydra_template.models.regressor import RegressorModule
from lightning_hydra_template.models.segmenter import SegmenterModule
from lightning_hydra_template.nets.unet import UNet

ADAM = {"_target_": "torch.optim.Adam", "lr": 1e-3}
UNET = {
    "_target_": "lightning_hydra_template.nets.unet.UNet",
    "in_channels": 1,
    "num_classes": 3,
    "channels": [4, 8],
}
MLP = {
    "_target_": "lightning_hydra_template.nets.mlp.MLP",
    "in_features": 3,
    "hidden_sizes": [],
    "out_features": 1,
}


def logits_of(probs: list[list[float]]) -> torch.Tensor:
    """Logits (1, C, 1, P) whose softmax over C is ``probs`` (one row of class probabilities per pixel)."""
    return torch.tensor(probs).log().T[None, :, None, :].requires_grad_(True)


# Two pixels, true classes [0, 1].  Class 0: I = 0.8, |P| = 1.2, |T| = 1;  class 1: I = 0.6, |P| = 0.8, |T| = 1.
TWO_CLASS = [[0.8, 0.2], [0.4, 0.6]]
# Three classes, class 2 absent from the masks. Class 0: I = 0.7, |P| = 1.0; class 1: I = 0.6, |P| = 0.8;
# class 2: I = 0, |P| = 0.2, |T| = 0.
THREE_CLASS = [[0.7, 0.2, 0.1], [0.3, 0.6, 0.1]]
TARGETS = torch.tensor([[[0, 1]]])


def test_dice_loss_hand_computed():
    expected = 1 - (1.6 / 2.2 + 1.2 / 1.8) / 2
    assert DiceLoss()(logits_of(TWO_CLASS), TARGETS).item() == pytest.approx(expected, abs=1e-6)
    assert DiceLoss(include_background=False)(logits_of(TWO_CLASS), TARGETS).item() == pytest.approx(
        1 - 1.2 / 1.8, abs=1e-6
    )


def test_jaccard_loss_hand_computed():
    expected = 1 - (0.8 / 1.4 + 0.6 / 1.2) / 2
    assert JaccardLoss()(logits_of(TWO_CLASS), TARGETS).item() == pytest.approx(expected, abs=1e-6)


def test_empty_class_is_ignored_or_scored_as_configured():
    logits = logits_of(THREE_CLASS)
    assert DiceLoss()(logits, TARGETS).item() == pytest.approx(1 - (0.7 + 1.2 / 1.8) / 2, abs=1e-6)
    # counted: its Dice is 0 (0.2 predicted mass, no true pixel)
    assert DiceLoss(ignore_empty=False)(logits, TARGETS).item() == pytest.approx(
        1 - (0.7 + 1.2 / 1.8 + 0.0) / 3, abs=1e-6
    )
    # smoothing gives the empty class (0 + 1) / (0.2 + 0 + 1)
    assert DiceLoss(smooth=1.0, ignore_empty=False)(logits, TARGETS).item() == pytest.approx(
        1 - (2.4 / 3.0 + 2.2 / 2.8 + 1 / 1.2) / 3, abs=1e-6
    )
    assert JaccardLoss()(logits, TARGETS).item() == pytest.approx(1 - (0.7 / 1.3 + 0.6 / 1.2) / 2, abs=1e-6)


def test_losses_with_nothing_to_score_are_zero_and_differentiable():
    logits = logits_of(TWO_CLASS)
    loss = DiceLoss(include_background=False)(logits, torch.zeros(1, 1, 2, dtype=torch.long))
    loss.backward()
    assert loss.item() == 0.0 and logits.grad is not None


def test_perfect_prediction_gives_zero_loss_and_gradients_flow():
    targets = torch.tensor([[[0, 1], [2, 1]]])
    perfect = torch.nn.functional.one_hot(targets, 3).movedim(-1, 1).float() * 50
    for loss_fn in (DiceLoss(), JaccardLoss(), CrossEntropyDiceLoss()):
        assert loss_fn(perfect, targets).item() == pytest.approx(0.0, abs=1e-5)
    logits = torch.zeros(1, 3, 2, 2, requires_grad=True)
    JaccardLoss()(logits, targets).backward()
    assert logits.grad.abs().sum() > 0


def test_cross_entropy_dice_is_the_weighted_sum():
    logits = logits_of(TWO_CLASS)
    ce = torch.nn.functional.cross_entropy(logits, TARGETS)
    dice = DiceLoss()(logits, TARGETS)
    combined = CrossEntropyDiceLoss(ce_weight=0.3, dice_weight=2.0)(logits, TARGETS)
    assert combined.item() == pytest.approx(0.3 * ce.item() + 2.0 * dice.item(), abs=1e-6)
    with pytest.raises(ValueError):
        CrossEntropyDiceLoss(ce_weight=0, dice_weight=0)


def test_segmentation_metrics_hand_computed_with_an_empty_class():
    module = SegmenterModule(net=UNET, optimizer=ADAM, num_classes=3)
    metrics = module.build_metrics("val/")
    preds, targets = torch.tensor([[[0, 1, 1, 1]]]), torch.tensor([[[0, 0, 1, 1]]])
    metrics.update(preds, targets)
    values = {k: v.item() for k, v in metrics.compute().items()}
    # class 0: tp 1, fp 0, fn 1 -> IoU 1/2, Dice 2/3; class 1: tp 2, fp 1 -> IoU 2/3, Dice 4/5; class 2 absent
    assert values["val/pixel_acc"] == pytest.approx(0.75)
    assert values["val/miou"] == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert values["val/dice"] == pytest.approx((2 / 3 + 4 / 5) / 2)


def test_regression_metrics_are_in_original_units():
    module = RegressorModule(net=MLP, optimizer=ADAM)
    module.target_mean.fill_(10.0)
    module.target_std.fill_(2.0)
    metrics = module.build_metrics("test/")
    outputs, targets = torch.tensor([[0.0], [1.0], [-1.0]]), torch.tensor([[0.0], [0.5], [-1.0]])
    metrics.update(*module.metric_inputs(outputs, targets))  # originals: pred [10, 12, 8], true [10, 11, 8]
    values = {k: v.item() for k, v in metrics.compute().items()}
    true = np.array([10.0, 11.0, 8.0])
    assert values["test/mae"] == pytest.approx(1 / 3, abs=1e-5)
    assert values["test/rmse"] == pytest.approx((1 / 3) ** 0.5, abs=1e-5)
    assert values["test/r2"] == pytest.approx(1 - 1 / ((true - true.mean()) ** 2).sum(), abs=1e-5)


# example:segmentation
def test_shape_generator_is_deterministic_and_masks_match_images():
    images, masks = generate_shapes(24, image_size=32, min_radius=3, max_radius=6, seed=3)
    again_images, again_masks = generate_shapes(24, image_size=32, min_radius=3, max_radius=6, seed=3)
    other_images, _ = generate_shapes(24, image_size=32, min_radius=3, max_radius=6, seed=4)
    assert images.shape == (24, 1, 32, 32) and images.dtype == np.float32
    assert masks.shape == (24, 32, 32) and masks.dtype == np.int64
    np.testing.assert_array_equal(images, again_images)
    np.testing.assert_array_equal(masks, again_masks)
    assert not np.array_equal(images, other_images)
    assert set(np.unique(masks)) <= set(range(len(CLASS_NAMES)))
    assert set(np.unique(masks)) == set(range(len(CLASS_NAMES)))  # every class occurs in 24 images
    # shapes are brighter than the background by 0.5-1.0, the noise has std 0.1
    assert images[:, 0][masks > 0].mean() - images[:, 0][masks == 0].mean() > 0.5
    for mask in masks:
        # non-overlapping and apart: each connected shape holds a single class, 2-4 shapes per image
        components, count = ndimage.label(mask > 0, structure=np.ones((3, 3)))
        assert 2 <= count <= 4
        for label in range(1, count + 1):
            assert len(np.unique(mask[components == label])) == 1


# /example:segmentation


# example:segmentation
def test_shapes_datamodule_splits_are_deterministic():
    kwargs = {"num_samples": 40, "image_size": 16, "min_radius": 2, "max_radius": 4, "batch_size": 8}
    first, second = ShapesDataModule(**kwargs), ShapesDataModule(**kwargs)
    first.setup(), second.setup()
    assert [first.num_samples(s) for s in ("train", "val", "test")] == [28, 6, 6]
    for split in ("train", "val", "test"):
        for a, b in zip(first.splits[split], second.splits[split], strict=True):
            assert torch.equal(a, b)
    images, masks = next(iter(first.train_dataloader()))
    assert images.shape == (8, 1, 16, 16) and masks.shape == (8, 16, 16)


# /example:segmentation


# example:regression
def test_diabetes_scaling_is_fitted_on_train_only_and_inverts():
    from sklearn.datasets import load_diabetes

    data = DiabetesDataModule(batch_size=32, val_fraction=0.2, test_fraction=0.2, split_seed=1)
    data.setup()
    raw = load_diabetes(scaled=False)
    index = split_indices(442, 0.2, 0.2, 1)
    assert sum(data.num_samples(s) for s in ("train", "val", "test")) == 442
    train_x, train_y = data.splits["train"]
    # training split: standardised exactly; statistics are those of the raw training rows
    assert train_x.mean(0).abs().max() < 1e-5 and (train_x.std(0, unbiased=False) - 1).abs().max() < 1e-4
    assert data.target_mean == pytest.approx(raw.target[index["train"]].mean(), rel=1e-6)
    assert data.target_std == pytest.approx(raw.target[index["train"]].std(), rel=1e-6)
    np.testing.assert_allclose(data.feature_mean, raw.data[index["train"]].mean(0), rtol=1e-5)
    # other splits use the training statistics, so they are not exactly standardised
    assert abs(float(data.splits["val"][1].mean())) > 1e-3
    np.testing.assert_allclose(
        data.inverse_transform_targets(data.splits["test"][1]).numpy().ravel(),
        raw.target[index["test"]],
        rtol=1e-5,
    )


# /example:regression


def test_unet_output_shape_and_size_check():
    net = UNet(in_channels=1, num_classes=4, channels=[4, 8, 16])
    assert net(torch.zeros(2, 1, 16, 16)).shape == (2, 4, 16, 16)
    with pytest.raises(ValueError, match="divisible by 4"):
        net(torch.zeros(1, 1, 18, 18))


def _fake_trainer(tmp_path, epoch: int, metrics: dict[str, float]) -> SimpleNamespace:
    return SimpleNamespace(
        sanity_checking=False,
        current_epoch=epoch,
        is_global_zero=True,
        default_root_dir=str(tmp_path),
        loggers=[],
        global_step=epoch,
        optimizers=[SimpleNamespace(param_groups=[{"lr": 0.1 / (epoch + 1)}])],
        callback_metrics={k: torch.tensor(v) for k, v in metrics.items()},
    )


def test_learning_curves_record_each_epoch_once_and_draw(tmp_path):
    curves = LearningCurves("val/acc")
    trainer = _fake_trainer(tmp_path, 0, {})
    curves.on_train_start(trainer, None)
    for epoch in range(3):
        trainer = _fake_trainer(tmp_path, epoch, {"val/loss": 1.0 / (epoch + 1), "val/acc": 0.5 + epoch / 10})
        if epoch:  # the module logs train/* after the callbacks' epoch end: they are read one hook later
            trainer.callback_metrics["train/loss"] = torch.tensor(float(epoch))
        curves.on_train_epoch_start(trainer, None)
        curves.on_validation_end(trainer, None)
        curves.on_validation_end(trainer, None)  # a repeated hook must not add a point
        curves.on_train_epoch_end(trainer, None)
    trainer.callback_metrics.update({"train/loss": torch.tensor(3.0), "val/acc_best": torch.tensor(0.7)})
    curves.on_train_end(trainer, None)
    series = curves.series()
    assert series["train/loss"] == [(1, 1.0), (2, 2.0), (3, 3.0)]
    assert [e for e, _ in series["val/acc"]] == [1, 2, 3]
    assert "val/acc_best" not in series
    assert series["train/lr"] == [(1, 0.1), (2, 0.05), (3, pytest.approx(0.1 / 3))]  # as each epoch started
    assert curves.path == tmp_path / "curves.png"
    assert curves.path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    restored = LearningCurves("val/acc")
    restored.load_state_dict(curves.state_dict())
    assert restored.series() == series


# example:segmentation
@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        (["data.image_size=34"], "data.image_size"),
        (["data.max_radius=20", "data.image_size=32"], "data.max_radius"),
        (["data.min_shapes=3", "data.max_shapes=2"], "data.max_shapes"),
        (["model.loss.dice_weight=-1"], "model.loss.dice_weight"),
        (["callbacks.plots.every_n_epochs=-1"], "callbacks.plots.every_n_epochs"),
        (["extras.plots=maybe"], "extras.plots"),
    ],
)
def test_bad_task_values_name_their_field(make_cfg, overrides, field):
    from lightning_hydra_template.config.errors import ConfigError
    from lightning_hydra_template.config.validation import validate_config

    cfg = make_cfg(["experiment=segmentation", *overrides])
    with pytest.raises(ConfigError) as excinfo:
        validate_config(cfg)
    assert excinfo.value.field == field
    assert "allowed" in str(excinfo.value)


# /example:segmentation
