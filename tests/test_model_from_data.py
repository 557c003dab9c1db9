"""Data and model agree by construction: classes, input size and class names come from the datamodule,
and a set value the data contradicts is one line of error before anything trains."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from omegaconf import OmegaConf

from lightning_hydra_template.config.errors import ConfigError
from lightning_hydra_template.runs.model_from_data import fill_model_from_data
from lightning_hydra_template.train import train


def _cfg(**model):
    return OmegaConf.create({"model": model})


RGB_DATA = SimpleNamespace(num_classes=3, class_names=["cat", "dog", "fox"], input_shape=(3, 32, 32))


def test_null_settings_are_filled_from_the_data():
    cfg = _cfg(
        num_classes=None, class_names=None, net={"in_channels": None, "num_classes": "${model.num_classes}"}
    )
    filled = fill_model_from_data(cfg, RGB_DATA)
    assert filled == {
        "model.num_classes": 3,
        "model.class_names": ["cat", "dog", "fox"],
        "model.net.in_channels": 3,
    }
    assert cfg.model.net.num_classes == 3  # interpolations follow
    flat = _cfg(net={"in_features": None}, num_classes=None)
    fill_model_from_data(flat, RGB_DATA)
    assert flat.model.net.in_features == 3 * 32 * 32


def test_set_values_that_match_are_kept_and_others_refused():
    fill_model_from_data(_cfg(num_classes=3, net={"in_channels": 3}), RGB_DATA)
    with pytest.raises(ConfigError) as err:
        fill_model_from_data(_cfg(num_classes=10), RGB_DATA)
    assert str(err.value) == (
        "model.num_classes: got 10, but SimpleNamespace serves 3 classes; allowed: 3, "
        "or null to take it from the data"
    )
    with pytest.raises(ConfigError, match="^model.net.in_channels: got 1, but .* serves 3 input channels"):
        fill_model_from_data(_cfg(num_classes=None, net={"in_channels": 1}), RGB_DATA)
    with pytest.raises(ConfigError, match="^model.class_names: got"):
        fill_model_from_data(_cfg(num_classes=None, class_names=["a", "b", "c"]), RGB_DATA)


def test_data_that_says_nothing_needs_explicit_values():
    silent = SimpleNamespace()
    fill_model_from_data(_cfg(num_classes=2, class_names=None, net={"in_features": 8}), silent)
    with pytest.raises(ConfigError, match=r"^model.num_classes: not set, and SimpleNamespace does not say"):
        fill_model_from_data(_cfg(num_classes=None), silent)
    with pytest.raises(ConfigError, match=r"^model.class_names: 2 names for 3 classes"):
        fill_model_from_data(_cfg(num_classes=3, class_names=["a", "b"]), silent)


# example:digits
@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["model.num_classes=3"], "model.num_classes: got 3, but DigitsDataModule serves 10 classes"),
        (
            ["model/net=mlp", "model.net.in_features=10"],
            "model.net.in_features: got 10, but DigitsDataModule serves 64",
        ),
        (
            [
                "data=diabetes",
                "model=regressor",
                "monitor.metric=val/r2",
                "monitor.mode=max",
                "model.net.in_features=8",
            ],
            "model.net.in_features: got 8, but Diabetes",
        ),
    ],
)
def test_train_refuses_a_model_the_data_contradicts_before_fitting(make_cfg, overrides, message):
    cfg = make_cfg(overrides)
    with pytest.raises(ConfigError) as err:
        train(cfg)
    assert str(err.value).startswith(message)
    assert not list(Path(cfg.paths.output_dir).rglob("*.ckpt"))


# /example:digits


# example:digits
def test_defaults_take_every_size_from_the_data(make_cfg):
    from hydra.utils import instantiate

    from lightning_hydra_template.runs.model_from_data import build_model

    for overrides, expected in (
        ([], {"model.num_classes": 10, "model.net.in_channels": 1}),
        (["model/net=mlp"], {"model.num_classes": 10, "model.net.in_features": 64}),
        (["experiment=regression"], {"model.net.in_features": 10}),
        (
            ["experiment=segmentation", "data.num_samples=20"],
            {"model.num_classes": 4, "model.net.in_channels": 1},
        ),
    ):
        cfg = make_cfg(overrides)
        datamodule = instantiate(cfg.data)
        datamodule.setup("fit")
        build_model(cfg, datamodule)
        for field, value in expected.items():
            assert OmegaConf.select(cfg, field) == value, (overrides, field)
    assert list(cfg.model.class_names) == ["background", "circle", "square", "triangle"]


# /example:digits
