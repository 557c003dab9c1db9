"""make predict / export / serve: checkpoints rebuilt alone, predictions equal the model's own outputs,
exports pass a parity check, the service answers like make predict, bad input ends in one line."""

from __future__ import annotations

import base64
import contextlib
import csv
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch

from lightning_hydra_template.config.errors import ConfigError, UserError
from lightning_hydra_template.deploy.export import export_trained, exported_runner
from lightning_hydra_template.deploy.inputs import held_out_inputs
from lightning_hydra_template.deploy.loading import load_trained
from lightning_hydra_template.deploy.predictor import Predictor
from lightning_hydra_template.deploy.service import RequestError, decode_samples
from lightning_hydra_template.export import export
from lightning_hydra_template.models.forward import NetForward
from lightning_hydra_template.predict import predict
from lightning_hydra_template.train import train
from tests.conftest import clean_env, compose_config, run_main, run_module

SHORT = ("+trainer.limit_train_batches=3", "callbacks.plots.every_n_epochs=0", "extras.plots=false")


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One tiny trained checkpoint per task."""
    root = tmp_path_factory.mktemp("trained")
    runs = {
        "classifier": ["experiment=baseline", "model.channels_last=true"],  # example:digits
        "regressor": ["experiment=regression"],  # example:regression
        "segmenter": ["experiment=segmentation", "data.num_samples=60"],  # example:segmentation
    }
    paths = {}
    for name, overrides in runs.items():
        cfg = compose_config([*overrides, *SHORT, "test=false"], output_dir=root / name)
        train(cfg)
        paths[name] = root / name / "checkpoints" / "last.ckpt"
    return paths


def _predict(ckpt: Path, run_dir: Path, *extra: str) -> Path:
    cfg = compose_config([f"ckpt_path={ckpt}", "trainer.accelerator=cpu", *extra], "predict", run_dir)
    return Path(predict(cfg)["predictions"])


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


# example:digits
def test_classifier_predictions_equal_the_models_probabilities(checkpoints, tmp_path) -> None:
    table = _predict(checkpoints["classifier"], tmp_path / "p")
    trained = load_trained(checkpoints["classifier"])
    split = held_out_inputs(trained.datamodule)
    with torch.no_grad():
        probs = trained.model(split.inputs).softmax(dim=1).numpy()
    rows = _rows(table)
    assert [r["id"] for r in rows] == split.ids
    written = np.array([[float(r[f"prob_{c}"]) for c in range(10)] for r in rows])
    np.testing.assert_allclose(written, probs, atol=1e-6)
    assert [int(r["predicted"]) for r in rows] == probs.argmax(axis=1).tolist()
    assert {r["predicted_name"] for r in rows} <= {str(c) for c in range(10)}
    assert not list(tmp_path.joinpath("p").glob(".*partial*"))


# /example:digits


@pytest.mark.parametrize("terminal", [False, True])
def test_predict_trainer_runs_no_callback_hooks_it_does_not_need(tmp_path, monkeypatch, terminal) -> None:
    """Every callback's hooks run on every predicted batch: the prediction Trainer has no checkpointing, and
    a progress bar only where it is seen (a terminal); its plugins come from the config."""
    from lightning.pytorch.callbacks import ProgressBar

    from lightning_hydra_template.predict import predict_trainer
    from lightning_hydra_template.runs.checkpoint_io import AtomicCheckpointIO

    monkeypatch.setattr("sys.stdout.isatty", lambda: terminal)
    cfg = compose_config(["ckpt_path=x.ckpt", "trainer.accelerator=cpu"], "predict", tmp_path / "p")
    trainer = predict_trainer(cfg.trainer)
    if terminal:
        assert [type(cb) for cb in trainer.callbacks] == [type(trainer.progress_bar_callback)]
        assert isinstance(trainer.progress_bar_callback, ProgressBar)
    else:
        assert trainer.callbacks == [] and trainer.progress_bar_callback is None
    assert trainer.checkpoint_callback is None
    assert isinstance(trainer.strategy.checkpoint_io, AtomicCheckpointIO)


# example:regression
def test_regressor_predicts_raw_npy_inputs_in_original_units(checkpoints, tmp_path) -> None:
    """Raw features of the test rows, scaled by the rebuilt datamodule, give the test split's predictions."""
    trained = load_trained(checkpoints["regressor"])
    trained.datamodule.setup("test")
    raw_inputs, raw_targets = trained.datamodule.load_arrays()
    test_rows = trained.datamodule.indices["test"]
    np.save(tmp_path / "raw.npy", raw_inputs[test_rows])
    from_split = _rows(_predict(checkpoints["regressor"], tmp_path / "split"))
    from_file = _rows(_predict(checkpoints["regressor"], tmp_path / "file", f"input={tmp_path / 'raw.npy'}"))
    split_values = np.array([float(r["prediction"]) for r in from_split])
    np.testing.assert_allclose([float(r["prediction"]) for r in from_file], split_values, rtol=1e-5)
    # original units: the diabetes target (disease progression) lies between 25 and 346
    assert 0 < split_values.mean() < 400 and abs(split_values.mean() - raw_targets.mean()) < 100


# /example:regression


# example:segmentation
def test_segmenter_writes_one_mask_per_input(checkpoints, tmp_path) -> None:
    from PIL import Image

    table = _predict(checkpoints["segmenter"], tmp_path / "p")
    rows = _rows(table)
    assert rows
    mask = np.asarray(Image.open(table.parent / rows[0]["mask"]))
    assert mask.shape == (32, 32) and mask.max() <= 3
    counts = [int(rows[0][f"pixels_{n}"]) for n in ("background", "circle", "square", "triangle")]
    assert sum(counts) == 32 * 32
    assert counts[0] == int((mask == 0).sum())


# /example:segmentation


# example:regression
def test_parquet_output(checkpoints, tmp_path) -> None:
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    table = _predict(checkpoints["regressor"], tmp_path / "p", "output_format=parquet")
    assert table.suffix == ".parquet" and len(pd.read_parquet(table)) == 89


# /example:regression


# example:digits
@pytest.mark.parametrize("fmt", ["onnx", "pt2"])
def test_export_parity_dynamic_batch_and_metadata(checkpoints, tmp_path, fmt) -> None:
    """A channels-last classifier exports; the file answers any batch size like the eager model."""
    cfg = compose_config(
        [f"ckpt_path={checkpoints['classifier']}", f"format={fmt}"], "export", tmp_path / "e"
    )
    result = export(cfg)
    path = Path(result["path"])
    assert result["max_abs_diff"] <= 1e-4
    meta = json.loads(path.with_name(path.name + ".json").read_text())
    assert meta["input"]["shape"] == ["batch", 1, 8, 8] and meta["class_names"] == [str(c) for c in range(10)]
    assert meta["checkpoint"]["sha256"] == load_trained(checkpoints["classifier"]).sha256
    assert meta["config"]["model"]["channels_last"] is True
    trained = load_trained(checkpoints["classifier"])
    inputs = held_out_inputs(trained.datamodule, limit=5).inputs
    with torch.no_grad():
        eager = trained.model.predictions(trained.model(inputs)).numpy()
    for batch in (1, 5):
        np.testing.assert_allclose(
            exported_runner(path, fmt)(inputs[:batch].numpy()), eager[:batch], atol=1e-5
        )


# /example:digits


# example:regression
def test_export_of_a_compiled_regressor(checkpoints, tmp_path) -> None:
    trained = load_trained(checkpoints["regressor"])
    trained.model.net_forward = NetForward(compile=True, channels_last=True)
    trained.model.setup("predict")  # compiles the network as a training run would
    assert trained.model.net_forward.compiled is not None
    inputs = held_out_inputs(trained.datamodule, limit=8).inputs
    path, parity = export_trained(trained, "pt2", tmp_path, inputs, 1e-4)
    assert path.is_file() and parity.ok


# /example:regression


# example:regression
def test_exceeded_tolerance_writes_nothing(checkpoints, tmp_path) -> None:
    trained = load_trained(checkpoints["regressor"])
    inputs = held_out_inputs(trained.datamodule, limit=8).inputs
    with pytest.raises(UserError, match=r"^export.tolerance: .*nothing was written"):
        export_trained(trained, "onnx", tmp_path, inputs, tolerance=-1.0)
    assert list(tmp_path.iterdir()) == []


# /example:regression


# example:regression
def test_unexportable_network_is_one_line(checkpoints, tmp_path) -> None:
    trained = load_trained(checkpoints["regressor"])

    class DataDependent(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x[:, :1] * int(x.sum().item() > 0)  # a Python branch on a tensor value

    trained.model.net = DataDependent()
    inputs = held_out_inputs(trained.datamodule, limit=4).inputs
    with pytest.raises(UserError, match=r"^format=pt2: this network cannot be exported") as err:
        export_trained(trained, "pt2", tmp_path, inputs, 1e-4)
    assert "\n" not in str(err.value)
    assert list(tmp_path.iterdir()) == []


# /example:regression


def test_service_decoding_rejects_bad_requests_with_a_reason() -> None:
    shape = (1, 8, 8)
    samples, many = decode_samples({"inputs": np.zeros(shape).tolist()}, shape)
    assert samples.shape == (1, *shape) and not many
    samples, many = decode_samples({"inputs": np.zeros((3, *shape)).tolist(), "many": True}, shape)
    assert samples.shape == (3, *shape) and many
    png = io.BytesIO()
    from PIL import Image

    Image.fromarray(np.full((8, 8), 255, dtype=np.uint8), mode="L").save(png, format="PNG")
    image, _ = decode_samples({"image": base64.b64encode(png.getvalue()).decode()}, shape)
    assert image.shape == (1, *shape) and image.max() == 1.0
    bad = [
        ({"inputs": [1, 2, 3]}, "inputs: a sample of shape"),
        ({"inputs": "abc"}, "inputs: not an array of numbers"),
        ({"inputs": [[[float("nan")] * 8] * 8]}, "NaN"),
        ({}, "exactly one of"),
        ({"image": "not base64!"}, "image: not a base64-encoded"),
        ([1, 2], "JSON object"),
    ]
    for request, reason in bad:
        with pytest.raises(RequestError, match=reason):
            decode_samples(request, shape)


# example:regression
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["format=tflite"], "error: format: got 'tflite'; allowed: onnx, pt2"),
        (["tolerance=-1"], "error: tolerance: got -1; allowed: a number >= 0"),
    ],
)
def test_export_bad_options_are_one_line(checkpoints, tmp_path, args, message) -> None:
    result = run_module(
        "lightning_hydra_template.export", [f"ckpt_path={checkpoints['regressor']}", *args], tmp_path
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [message]


# /example:regression


# example:regression
@pytest.mark.slow
def test_predict_bad_inputs_are_one_line(checkpoints, tmp_path, monkeypatch, capfd) -> None:
    from lightning_hydra_template.predict import main as predict_main

    foreign = tmp_path / "foreign.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, foreign)
    text_input = tmp_path / "rows.txt"
    text_input.write_text("1,2,3\n")
    wrong_shape = tmp_path / "wrong.npy"
    np.save(wrong_shape, np.zeros((4, 3), dtype=np.float32))
    # refused after the checkpoint is loaded: the entry point in-process (each process would pay the
    # ~12 s of `import lightning` again)
    cases = [
        ([f"ckpt_path={foreign}"], "carries no training config"),
        ([f"ckpt_path={checkpoints['regressor']}", f"input={text_input}"], "error: input: "),
        (
            [f"ckpt_path={checkpoints['regressor']}", f"input={wrong_shape}"],
            "allowed: shape (10,) per sample",
        ),
        (
            [f"ckpt_path={checkpoints['regressor']}", "trainer.devices=2"],
            "error: trainer.devices: got 2; allowed: 1 (make predict runs in one process, on one device)",
        ),
    ]
    for args, message in cases:
        code, out, err = run_main(
            predict_main, [*args, "trainer.accelerator=cpu"], monkeypatch, capfd, tmp_path
        )
        lines = err.strip().splitlines()
        assert code == 2, err[-2000:]
        assert len(lines) == 1 and message in lines[0], lines
        assert "Traceback" not in out + err
    # and one through a new process, as `make predict` runs: the exit status and the one line on stderr
    args = [f"ckpt_path={checkpoints['regressor']}", "output_format=xlsx", "trainer.accelerator=cpu"]
    result = run_module("lightning_hydra_template.predict", args, tmp_path)
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.strip().splitlines() == [
        "error: output_format: got 'xlsx'; allowed: csv, parquet"
    ], result.stderr
    assert not list((tmp_path / "logs").rglob("predictions.*"))


# /example:regression


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _post(url: str, body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


# example:digits
@pytest.mark.slow
@pytest.mark.parametrize("source", ["ckpt", "onnx"])
def test_service_answers_like_make_predict(checkpoints, tmp_path, source) -> None:
    ckpt = checkpoints["classifier"]
    expected = _rows(_predict(ckpt, tmp_path / "p"))
    served = ckpt
    if source == "onnx":
        cfg = compose_config([f"ckpt_path={ckpt}", "format=onnx"], "export", tmp_path / "e")
        served = Path(export(cfg)["path"])
    trained = load_trained(ckpt)
    split = held_out_inputs(trained.datamodule, limit=6)
    port = _free_port()
    env = {**clean_env(), "LHT_LOG_DIR": str(tmp_path / "logs")}
    server = subprocess.Popen(
        [sys.executable, "-m", "lightning_hydra_template.serve", f"ckpt_path={served}", f"port={port}"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: LitServe's worker processes are stopped with it
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        while True:
            assert server.poll() is None, server.stdout.read()
            try:
                with urllib.request.urlopen(base + "/health", timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the service did not come up"
            time.sleep(1)
        status, answer = _post(base + "/predict", json.dumps({"inputs": split.inputs[0].tolist()}).encode())
        assert status == 200
        assert answer["predicted"] == int(expected[0]["predicted"])
        assert answer["probabilities"]["3"] == pytest.approx(float(expected[0]["prob_3"]), abs=1e-5)
        status, answer = _post(
            base + "/predict", json.dumps({"inputs": split.inputs.tolist(), "many": True}).encode()
        )
        assert status == 200
        assert [a["predicted"] for a in answer["predictions"]] == [int(r["predicted"]) for r in expected[:6]]
        for body in (b'{"inputs": [1, 2]}', b"not json"):
            status, answer = _post(base + "/predict", body)
            assert status == 400 and "\n" not in answer["error"]
        status, _ = _post(base + "/predict", json.dumps({"inputs": split.inputs[1].tolist()}).encode())
        assert status == 200  # still serving after bad requests
    finally:
        server.terminate()  # SIGTERM: `make serve` shuts LitServe and its workers down as on Ctrl-C
        try:
            server.wait(timeout=60)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGKILL)  # whatever of the group is left
        assert server.returncode is not None


# /example:digits


def test_predictor_refuses_an_export_without_metadata(tmp_path) -> None:
    model = tmp_path / "model.onnx"
    model.write_bytes(b"onnx")
    with pytest.raises(UserError, match="model.onnx.json is missing"):
        Predictor(model)
    with pytest.raises(ConfigError, match="no file at"):
        Predictor(tmp_path / "absent.pt2")


# example:csv
def test_table_predictions_from_a_csv_without_the_target(tmp_path) -> None:
    """New rows of a table are encoded with the checkpoint's statistics; a missing column is one line."""
    import pandas as pd

    cfg = compose_config(["experiment=csv_classification", *SHORT, "test=false"], output_dir=tmp_path / "t")
    train(cfg)
    ckpt = tmp_path / "t" / "checkpoints" / "last.ckpt"
    trained = load_trained(ckpt)
    trained.datamodule.setup("test")
    source, target = trained.datamodule._source()
    rows = pd.read_csv(source).head(7).drop(columns=[target])
    rows.to_csv(tmp_path / "new.csv", index=False)
    table = _predict(ckpt, tmp_path / "p", f"input={tmp_path / 'new.csv'}")
    written = _rows(table)
    assert [r["id"] for r in written] == [str(i) for i in range(7)]
    with torch.no_grad():
        probs = trained.model(trained.datamodule.encode(rows)).softmax(dim=1).numpy()
    names = trained.class_names(probs.shape[1])
    np.testing.assert_allclose([[float(r[f"prob_{n}"]) for n in names] for r in written], probs, atol=1e-6)
    rows.drop(columns=[rows.columns[0]]).to_csv(tmp_path / "short.csv", index=False)
    with pytest.raises(ConfigError, match=r"^input: short.csv lacks the training column"):
        _predict(ckpt, tmp_path / "q", f"input={tmp_path / 'short.csv'}")


# /example:csv
