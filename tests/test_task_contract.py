"""What a task module promises: tuple or dict batches, only network weights in checkpoints, running
training-loss sums outside the buffers (in float64), and exact-resume state of earlier versions."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
import torch
from lightning.pytorch.utilities.signature_utils import is_param_in_hook_signature

from lightning_hydra_template.callbacks.exact_resume import collect_running_state, restore_running_state
from lightning_hydra_template.models.classifier import ClassifierModule
from lightning_hydra_template.models.regressor import RegressorModule
from lightning_hydra_template.models.running_loss import RunningLoss
from lightning_hydra_template.models.segmenter import SegmenterModule
from lightning_hydra_template.train import train

ADAM = {"_target_": "torch.optim.Adam", "lr": 1e-3}
CNN = {
    "_target_": "lightning_hydra_template.nets.cnn.SmallCNN",
    "in_channels": 1,
    "channels": [4, 8],
    "num_classes": 10,
}
MLP = {
    "_target_": "lightning_hydra_template.nets.mlp.MLP",
    "in_features": 3,
    "hidden_sizes": [],
    "out_features": 1,
}
UNET = {
    "_target_": "lightning_hydra_template.nets.unet.UNet",
    "in_channels": 1,
    "num_classes": 4,
    "channels": [4, 8],
}


def test_batches_split_as_documented():
    model = ClassifierModule(net=CNN, optimizer=ADAM).eval()
    x, y = torch.randn(3, 1, 8, 8), torch.tensor([1, 2, 3])
    for batch in ((x, y), [x, y, "ids"], {"inputs": x, "targets": y, "ids": 0}):
        inputs, targets = model.split_batch(batch)
        assert inputs is x and targets is y
    assert model.split_batch({"inputs": x})[1] is None  # prediction batches may carry no targets
    assert model.split_batch((x,))[1] is None
    assert model.split_batch(x)[0] is x
    with torch.no_grad():
        assert torch.equal(model.predict_step({"inputs": x}, 0), model.predict_step((x, y), 0))


def test_hook_name_is_a_plain_attribute_and_modules_still_register():
    """Lightning sets ``_current_fx_name`` around every hook: stored directly, past nn.Module's checks,
    while modules, parameters and buffers assigned to the task still register as such."""
    model = ClassifierModule(net=CNN, optimizer=ADAM)
    model._current_fx_name = "predict_step"
    assert model._current_fx_name == "predict_step" and vars(model)["_current_fx_name"] == "predict_step"
    model.extra = torch.nn.Linear(2, 2)
    model.scale = torch.nn.Parameter(torch.ones(1))
    model.offset = torch.nn.Buffer(torch.zeros(1))
    assert "extra" in model._modules and "scale" in model._parameters and "offset" in model._buffers
    assert "extra.weight" in model.state_dict() and "offset" in model.state_dict()


class PredictWithoutIndex(ClassifierModule):
    def predict_step(self, batch: Any) -> torch.Tensor:  # Lightning then passes no batch_idx
        return super().predict_step(batch, 0)


def test_step_signatures_are_kept_and_read_as_before():
    """Lightning asks on every batch whether the step takes ``batch_idx``; the signatures it reads are
    stored on the step methods, a subclass's overrides included, and give the same answers."""
    for cls, takes_index in ((ClassifierModule, True), (PredictWithoutIndex, False)):
        step = vars(cls.predict_step)["__signature__"]
        assert list(step.parameters) == (["self", "batch", "batch_idx"] if takes_index else ["self", "batch"])
        model = cls(net=CNN, optimizer=ADAM)
        assert is_param_in_hook_signature(model.predict_step, "batch_idx", min_args=2) is takes_index
    assert inspect.getfullargspec(ClassifierModule(net=CNN, optimizer=ADAM).test_step).args == [
        "self",
        "batch",
        "batch_idx",
    ]


def test_custom_batch_keys():
    class Keyed(ClassifierModule):
        input_key, target_key = "image", "label"

    model = Keyed(net=CNN, optimizer=ADAM)
    x, y = torch.randn(2, 1, 8, 8), torch.tensor([0, 1])
    assert model.split_batch({"image": x, "label": y}) == (x, y)
    model.training_step({"image": x, "label": y}, 0)
    model.flush_running_state()
    assert model.train_loss.count == 2


@pytest.mark.parametrize(
    ("module", "kwargs", "extra_keys"),
    [
        (ClassifierModule, {"net": CNN}, set()),
        (RegressorModule, {"net": MLP}, {"target_mean", "target_std"}),
        (SegmenterModule, {"net": UNET}, set()),
    ],
)
def test_checkpoints_and_buffers_hold_only_the_model(module, kwargs, extra_keys):
    model = module(optimizer=ADAM, **kwargs)
    assert {k for k in model.state_dict() if not k.startswith("net.")} == extra_keys
    # DDP broadcasts buffers from rank 0: the per-rank training-loss sums must not be among them
    assert {name for name, _ in model.named_buffers() if not name.startswith("net.")} == extra_keys


def test_running_loss_is_a_float64_weighted_mean_whatever_the_module_dtype():
    loss = RunningLoss()
    loss.update(torch.tensor([1.0, 4.0]), [3, 1])
    loss.update(torch.tensor([0.5]), [4])
    assert loss.total.dtype == torch.float64 and float(loss.total) == 9.0 and float(loss.count) == 8
    assert float(loss.compute()) == pytest.approx(9.0 / 8)
    model = ClassifierModule(net=CNN, optimizer=ADAM).to(torch.bfloat16)
    assert model.train_loss.total.dtype == torch.float64 and model.train_loss.count.dtype == torch.float64


def test_exact_resume_state_of_earlier_versions_restores_the_loss_sums():
    model = ClassifierModule(net=CNN, optimizer=ADAM)
    # what ExactResume saved while the sums were the buffers _train_loss_sum and _train_count
    earlier = {
        "buffer:_train_loss_sum": torch.tensor(12.5, dtype=torch.float64),
        "buffer:_train_count": torch.tensor(5.0, dtype=torch.float64),
    }
    restore_running_state(model, earlier)
    assert float(model.train_loss.total) == 12.5 and float(model.train_loss.count) == 5.0
    assert float(model.train_loss.compute()) == 2.5
    # and today's state round-trips
    again = ClassifierModule(net=CNN, optimizer=ADAM)
    restore_running_state(again, collect_running_state(model))
    assert float(again.train_loss.total) == 12.5 and float(again.train_loss.count) == 5.0


DIGITS_MLP = ["model/net=mlp", "data.batch_size=128", "~callbacks.early_stopping", "logger=none", "seed=3"]


# example:digits
@pytest.mark.slow
def test_dict_batches_train_validate_and_test_like_tuples(make_cfg):
    """Budget: two 1-epoch digits runs with an MLP, ~10 s."""
    tuples = train(make_cfg(DIGITS_MLP))
    dicts = train(make_cfg([*DIGITS_MLP, "data._target_=tests.components.DictDigits"]))
    (row,) = dicts["history"]
    for key in ("train/loss", "train/acc", "train/f1", "val/loss", "val/acc", "val/f1", "val/acc_best"):
        assert key in row, key
    assert set(dicts["test"]) == {"test/loss", "test/acc", "test/f1"}
    without_time = [{k: v for k, v in r.items() if k != "seconds"} for r in (row, tuples["history"][0])]
    assert without_time[0] == without_time[1]  # the same samples in the same order: the same numbers
    assert dicts["test"] == tuples["test"]
    assert dicts["plan"]["train_samples"] == tuples["plan"]["train_samples"]


# /example:digits
