"""Performance paths: batched metric updates, the cheap profiler and progress bar, device placement of
in-memory data, channels-last, mixed precision, compiled checkpoints, and the benchmark's quick mode.

Budget on 2 shared cores: the fast tests take about 5 s together; the slow ones (real training,
torch.compile, subprocesses) about 45 s.
No test here asserts on timings.
"""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import pytest
import torch
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

from lightning_hydra_template.callbacks import progress
from lightning_hydra_template.data.base import place_on_device
from lightning_hydra_template.data.digits import DigitsDataModule  # example:digits
from lightning_hydra_template.data.in_memory import InMemoryLoader
from lightning_hydra_template.models.classifier import ClassifierModule
from lightning_hydra_template.models.step_buffer import StepBuffer
from lightning_hydra_template.runs.build import NoProfiler, default_profiler

MLP = {
    "_target_": "lightning_hydra_template.nets.mlp.MLP",
    "in_features": 64,
    "hidden_sizes": [32],
    "out_features": 10,
}
CNN = {
    "_target_": "lightning_hydra_template.nets.cnn.SmallCNN",
    "in_channels": 1,
    "channels": [4, 8],
    "num_classes": 10,
}
ADAM = {"_target_": "torch.optim.Adam", "lr": 0.01}


def _metrics() -> MetricCollection:
    return MetricCollection(
        {"acc": MulticlassAccuracy(10, average="micro"), "f1": MulticlassF1Score(10, average="macro")}
    )


def _batches(steps: int = 7, size: int = 24, seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(seed)
    return [
        (torch.randn(size, 1, 8, 8, generator=generator), torch.randint(0, 10, (size,), generator=generator))
        for _ in range(steps)
    ]


# --- batched metric updates ---------------------------------------------------------------------------
def test_step_buffer_asks_for_a_flush_at_its_limits():
    by_steps = StepBuffer(max_elements=10**9, max_steps=3)
    assert [by_steps.add(torch.zeros(2, 10), torch.zeros(2)) for _ in range(3)] == [False, False, True]
    by_size = StepBuffer(max_elements=50, max_steps=100)
    assert by_size.add(torch.zeros(2, 10), torch.zeros(2)) is False  # 22 elements
    assert by_size.add(torch.zeros(2, 10), torch.zeros(2)) is False  # 44
    assert by_size.add(torch.zeros(2, 10), torch.zeros(2)) is True  # 66


def test_step_buffer_hands_over_everything_once_in_order():
    buffer = StepBuffer()
    outputs = [torch.full((2, 3), float(i)) for i in range(4)]
    targets = [torch.tensor([i, i]) for i in range(4)]
    for out, tgt in zip(outputs, targets, strict=True):
        buffer.add(out, tgt)
    seen = []
    buffer.flush(lambda o, t: seen.append((o, t)))
    buffer.flush(lambda o, t: seen.append((o, t)))  # empty now: no second call
    assert len(seen) == 1
    assert torch.equal(seen[0][0], torch.cat(outputs)) and torch.equal(seen[0][1], torch.cat(targets))


def test_buffered_training_metrics_equal_per_step_updates():
    """The training metrics and the epoch's training loss equal what per-step updates give."""
    torch.manual_seed(0)
    model = ClassifierModule(net=CNN, optimizer=ADAM)
    model.eval()  # no dropout, so outputs can be recomputed for the reference
    reference = _metrics()
    loss_sum = torch.zeros((), dtype=torch.float64)
    count = torch.zeros((), dtype=torch.float64)
    batches = _batches()
    model._train_steps.max_steps = 3  # several flushes within the "epoch"
    with torch.no_grad():
        for i, (inputs, targets) in enumerate(batches):
            model.training_step((inputs, targets), i)
            outputs = model(inputs)
            reference.update(outputs.argmax(dim=1), targets)
            loss_sum += model.compute_loss(outputs, targets) * targets.shape[0]
            count += targets.shape[0]
    model.flush_running_state()
    buffered = model.train_metrics.compute()
    expected = reference.compute()
    assert buffered["train/acc"] == expected["acc"]
    assert buffered["train/f1"] == expected["f1"]
    assert count == model.train_loss.count == 7 * 24
    assert float(model.train_loss.total / model.train_loss.count) == pytest.approx(
        float(loss_sum / count), rel=1e-12
    )


# --- profiler and progress display --------------------------------------------------------------------
def test_no_profiler_hands_out_one_reusable_context():
    profiler = NoProfiler()
    first, second = profiler.profile("a"), profiler.profile("b")
    assert first is second
    with first, second:  # re-entrant: nested hooks use it at the same time
        pass
    assert isinstance(default_profiler({"profiler": None})["profiler"], NoProfiler)
    assert default_profiler({"profiler": {"_target_": "lightning.pytorch.profilers.SimpleProfiler"}}) == {}


def test_rich_progress_redraws_only_when_due_and_at_the_last_batch(monkeypatch):
    clock = iter([0.0, 0.1, 0.2, 0.3, 0.31, 0.32])
    monkeypatch.setattr(progress.time, "monotonic", lambda: next(clock))
    bar = progress.ThrottledRichProgress(min_interval=0.25)
    due = [bar._due(batch_idx, total=6) for batch_idx in range(6)]
    # first batch draws; 0.1 and 0.2 are too soon; 0.3 is due; 0.31 too soon; the last batch always draws
    assert due == [True, False, False, True, False, True]


def test_auto_progress_bar_styles():
    assert isinstance(progress.auto_progress_bar("rich"), progress.ThrottledRichProgress)
    assert isinstance(progress.auto_progress_bar("lines"), progress.EpochLineProgress)
    with pytest.raises(ValueError, match="auto, rich or lines"):
        progress.auto_progress_bar("fancy")


def test_png_files_are_drawn_once_and_match_savefig(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    from lightning_hydra_template.utils import plotting

    history = {
        "train/loss": [(1, 2.0), (2, 1.5)],
        "val/loss": [(1, 2.2), (2, 1.7)],
        "val/acc": [(1, 0.3), (2, 0.5)],
    }
    plotting.curves_figure(history, "val/acc").savefig(tmp_path / "savefig.png", format="png")
    draws = []
    original = Figure.draw
    monkeypatch.setattr(Figure, "draw", lambda self, renderer: draws.append(1) or original(self, renderer))
    figure = plotting.curves_figure(history, "val/acc")
    plotting.save_png(figure, tmp_path / "curves.png")
    image = plotting.to_rgb_array(figure)  # for the image loggers: the drawing is reused
    assert len(draws) == 1  # savefig draws a figure with a layout engine twice
    assert (tmp_path / "curves.png").read_bytes() == (tmp_path / "savefig.png").read_bytes()
    assert image.shape == (400, 1000, 3)


# --- data placement -----------------------------------------------------------------------------------
# example:digits
def _datamodule_on(device: str, on_device: bool | str) -> DigitsDataModule:
    datamodule = DigitsDataModule(batch_size=64, on_device=on_device)
    datamodule.trainer = SimpleNamespace(
        strategy=SimpleNamespace(root_device=torch.device(device)), global_rank=0, world_size=1
    )
    return datamodule


def test_in_memory_data_goes_to_the_accelerator_once():
    # "meta" stands in for a GPU: tensors placed there are never copied back or again.
    datamodule = _datamodule_on("meta", on_device=True)
    first = datamodule.train_dataloader()
    second = datamodule.train_dataloader()
    assert first.tensors[0].device.type == "meta"
    assert first.tensors[0] is second.tensors[0]  # placed once, reused by every loader
    assert all(t.device.type == "meta" for batch in first for t in batch)  # batches are device slices
    assert first.pin_memory is False


def test_data_that_stays_on_the_host_is_pinned_for_a_gpu_and_not_for_the_cpu():
    on_cpu = _datamodule_on("cpu", on_device=True).train_dataloader()
    assert on_cpu.tensors[0].device.type == "cpu" and on_cpu.pin_memory is False
    kept_on_host = _datamodule_on("cuda", on_device=False)
    tensors, pin = kept_on_host._served("train")
    assert tensors[0].device.type == "cpu" and pin is True


# /example:digits


def test_place_on_device_rules():
    small = (torch.zeros(4),)
    assert place_on_device(True, small, torch.device("cuda")) is True
    assert place_on_device(False, small, torch.device("cuda")) is False
    assert place_on_device("auto", small, torch.device("mps")) is True


@pytest.mark.skipif(not torch.cuda.is_available(), reason="pinned memory needs CUDA")
def test_pinned_epochs_keep_order_and_pinning():
    tensors = (torch.arange(100.0), torch.arange(100))
    pinned = InMemoryLoader(tensors, batch_size=10, shuffle=True, seed=3, pin_memory=True)
    plain = InMemoryLoader(tensors, batch_size=10, shuffle=True, seed=3)
    for a, b in zip(pinned, plain, strict=True):
        assert a[0].is_pinned() and torch.equal(a[0], b[0])


# --- channels-last, compile, precision ----------------------------------------------------------------
def test_channels_last_converts_network_and_inputs_without_changing_results():
    torch.manual_seed(0)
    plain = ClassifierModule(net=CNN, optimizer=ADAM).eval()
    nhwc = ClassifierModule(net=CNN, optimizer=ADAM, channels_last=True).eval()
    nhwc.load_state_dict(plain.state_dict())
    nhwc.setup("fit")
    conv = nhwc.net.features[4].weight  # the second block: with one input channel both layouts coincide
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    inputs, _ = _batches(steps=1)[0]
    seen = []
    nhwc.net.features.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    with torch.no_grad():
        assert torch.allclose(nhwc(inputs), plain(inputs), atol=1e-5)
    assert seen[0].is_contiguous(memory_format=torch.channels_last)  # the batch was converted too


@pytest.mark.slow  # the first torch.compile imports dynamo (several seconds)
def test_compiled_and_plain_modules_share_checkpoint_keys():
    torch.manual_seed(0)
    compiled = ClassifierModule(net=MLP, optimizer=ADAM, compile=True)
    compiled.setup("fit")
    plain = ClassifierModule(net=MLP, optimizer=ADAM)
    assert compiled.net_forward.compiled is not None
    assert compiled.state_dict().keys() == plain.state_dict().keys()
    plain.load_state_dict(compiled.state_dict())  # strict: raises on any key mismatch
    compiled.load_state_dict(plain.state_dict())


@pytest.mark.slow
def test_checkpoint_of_a_compiled_run_loads_into_a_plain_one_and_back(make_cfg):
    from lightning_hydra_template.runs.checkpoint import load_checkpoint, rebuild_model, training_config
    from lightning_hydra_template.train import train

    # dynamo's eager backend: the real torch.compile wrapper, without minutes of C++ code generation
    common = ["data.batch_size=256", "test=false", "~callbacks.early_stopping"]
    compile_on = "model.compile={backend: eager}"
    compiled_run = train(make_cfg([*common, compile_on]))
    checkpoint = load_checkpoint(compiled_run["best_checkpoint"])
    config = training_config(checkpoint, "ckpt")
    assert config["model"]["compile"] == {"backend": "eager"}
    plain = rebuild_model(checkpoint, {**config, "model": {**config["model"], "compile": False}}, "ckpt")
    assert plain.state_dict().keys() == checkpoint["state_dict"].keys()
    # ...and back: a plain run resumes into a compiled one
    plain_run = train(make_cfg(common))
    resumed = train(
        make_cfg(
            [
                *common,
                compile_on,  # inductor would add C++ code generation, not template code
                "trainer.max_epochs=2",
                f"ckpt_path={plain_run['best_checkpoint']}",
            ]
        )
    )
    assert resumed["global_step"] == 2 * plain_run["global_step"]


def test_precision_configs_compose(make_cfg):
    assert make_cfg(["trainer=gpu_bf16"], tiny=False).trainer.precision == "bf16-mixed"
    fp16 = make_cfg(["trainer=gpu_fp16"], tiny=False).trainer
    assert fp16.precision == "16-mixed" and fp16.accelerator == "gpu"


@pytest.mark.slow
def test_bf16_mixed_trains_on_cpu(make_cfg):
    from lightning_hydra_template.train import train

    summary = train(make_cfg(["trainer.precision=bf16-mixed", "data.batch_size=128"]))
    assert summary["global_step"] == summary["plan"]["total_optimizer_steps"]
    assert math.isfinite(summary["test"]["test/loss"])


# --- the benchmark ------------------------------------------------------------------------------------
@pytest.mark.slow
def test_bench_quick_mode_runs_and_reports_sane_numbers(tmp_path):
    from benchmarks.__main__ import main

    results = main(["--quick", "--threads", "1", "--out", str(tmp_path)])
    saved = json.loads((tmp_path / "latest.json").read_text())
    markdown = (tmp_path / "latest.md").read_text()
    startup = saved["startup"]
    assert startup["help_seconds"] > 0 and startup["cfg_job_seconds"] > 0
    assert startup["help_imports_torch"] is False and startup["cfg_job_imports_torch"] is False
    for key in ("import_lightning_seconds", "fdr_seconds", "fdr_ratio", "fdr_cpu_seconds", "fdr_cpu_ratio"):
        assert math.isfinite(startup[key]) and startup[key] > 0, (key, startup[key])
    assert "`train --help`" in markdown
    assert "| `train debug=fdr`, the whole process |" in markdown and "x import lightning" in markdown
    deploy = saved["deploy"]
    assert deploy.keys() == results["deploy"].keys()
    assert deploy["predict_samples"] > 0 and deploy["predict_ratio"] > 0  # NaN fails too
    # example:digits
    assert saved["overhead"].keys() == results["overhead"].keys() >= {"baseline", "tiny_mlp"}
    for case in ("baseline", "tiny_mlp"):
        row = saved["overhead"][case]
        for key in (
            "hand_step_ms",
            "template_step_ms",
            "hand_fit_step_ms",
            "template_fit_step_ms",
            "step_ratio",
        ):
            assert math.isfinite(row[key]) and row[key] > 0, (case, key, row[key])
        assert row["steps"] == 2 * 20  # 2 epochs of ceil(1257 / 64) steps
    assert saved["overhead"]["tiny_mlp"]["barebones_step_ms"] > 0
    logging = saved["overhead"]["step_logging"]
    assert logging["log_every_n_steps"] == 50 and logging["steps"] == 2 * 20
    assert all(math.isfinite(logging[k]) and logging[k] > 0 for k in ("step_ratio", "fit_ratio"))
    batch = saved["data"]["batch_64"]
    assert batch["in_memory_batches_per_s"] > 0 and batch["dataloader_batches_per_s"] > 0
    assert "Step-level logging every 50 steps" in markdown
    assert "| baseline |" in markdown and "InMemoryLoader" in markdown
    # /example:digits
