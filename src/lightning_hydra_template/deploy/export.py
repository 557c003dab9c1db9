"""Exporting the network that makes predictions: ONNX (dynamo exporter) or a torch.export program (.pt2),
with a dynamic batch dimension, a metadata file beside it, and a parity check on real inputs.

What is exported is the prediction, not only the raw network: ``model.predictions(model(x))``, so an
exported classifier answers class probabilities and an exported regressor answers original units, exactly
as ``make predict`` does. Inputs are expected as the model takes them (already scaled); the metadata
records how to get there.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from lightning_hydra_template.config.errors import ConfigError, UserError
from lightning_hydra_template.deploy.loading import TrainedModel

FORMATS = {"onnx": ".onnx", "pt2": ".pt2"}
METADATA_SUFFIX = ".json"


class PredictionNetwork(nn.Module):
    """The model's forward pass followed by its ``predictions`` (softmax, original units, ...)."""

    def __init__(self, model: Any) -> None:  # a TaskModule: a module with predictions()
        super().__init__()
        self.model = model

    def forward(self, inputs: Tensor) -> Tensor:
        return self.model.predictions(self.model(inputs))


def exportable(model: Any) -> PredictionNetwork:
    """An eval-mode, uncompiled, contiguous-memory copy of the model's prediction path on the CPU."""
    model = model.to("cpu").eval()
    forward = getattr(model, "net_forward", None)  # TaskModule's compile / channels-last wrapper
    if forward is not None:
        forward.compiled = None  # torch.compile'd forwards are exported from the plain network
        forward.channels_last = False
    model.net.to(memory_format=torch.contiguous_format)
    return PredictionNetwork(model).eval()


@dataclass
class Parity:
    max_abs_diff: float
    samples: int
    tolerance: float

    @property
    def ok(self) -> bool:
        return self.max_abs_diff <= self.tolerance


def export_network(network: PredictionNetwork, example: Tensor, fmt: str, path: Path) -> None:
    """Write ``network`` to ``path`` with the batch dimension dynamic; one line for what cannot be exported."""
    batch = torch.export.Dim("batch", min=1, max=1 << 16)
    dynamic = {"inputs": {0: batch}}
    try:
        with torch.no_grad():
            if fmt == "onnx":
                program = torch.onnx.export(
                    network, (example,), dynamo=True, dynamic_shapes=dynamic, input_names=["inputs"],
                    output_names=["predictions"], verbose=False,
                )  # fmt: skip
                program.save(str(path))  # type: ignore[union-attr]  # None only with dynamo=False
            else:
                exported = torch.export.export(network, (example,), dynamic_shapes=dynamic)
                torch.export.save(exported, str(path))
    except Exception as err:  # the exporters raise many types for unsupported code
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:240]
        raise UserError(
            f"format={fmt}: this network cannot be exported ({type(err).__name__}: {first})"
        ) from err


def exported_runner(path: Path, fmt: str) -> Callable[[np.ndarray], np.ndarray]:
    """Loads the exported file once (an onnxruntime session or the ExportedProgram) and returns its call."""
    if fmt == "onnx":
        import onnxruntime as ort

        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return lambda inputs: session.run(None, {name: inputs})[0]
    module = torch.export.load(str(path)).module()

    def run(inputs: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return module(torch.from_numpy(inputs)).numpy()

    return run


def check_parity(
    network: PredictionNetwork, path: Path, fmt: str, inputs: Tensor, tolerance: float
) -> Parity:
    with torch.no_grad():
        eager = network(inputs).float().numpy()
    exported = exported_runner(path, fmt)(inputs.numpy())
    diff = float(np.abs(eager - exported.astype(np.float32)).max()) if eager.size else 0.0
    return Parity(diff, len(inputs), tolerance)


def _json_state(datamodule: Any) -> dict[str, Any] | None:
    """The datamodule's checkpoint state when it is plain JSON (class names, input shape), else None."""
    state = datamodule.state_dict() if hasattr(datamodule, "state_dict") else None
    try:
        return json.loads(json.dumps(state)) if state else None
    except (TypeError, ValueError):
        return None


def metadata(
    trained: TrainedModel, fmt: str, example: Tensor, parity: Parity, outputs: Tensor
) -> dict[str, Any]:
    """What a user of the exported file needs besides the file: shapes, scaling, names, provenance."""
    model, datamodule = trained.model, trained.datamodule
    num_classes = outputs.shape[1] if trained.kind in ("classes", "masks") else 0
    scaling = {
        name: np.asarray(getattr(datamodule, name)).tolist()
        for name in ("feature_mean", "feature_std")
        if hasattr(datamodule, name)
    }
    for name in ("target_mean", "target_std"):
        if hasattr(model, name):
            scaling[name] = float(getattr(model, name))
    return {
        "format": fmt,
        "prediction_kind": trained.kind,
        "input": {
            "name": "inputs",
            "shape": ["batch", *example.shape[1:]],
            "dtype": str(example.dtype).removeprefix("torch."),
        },
        "output": {"name": "predictions", "shape": ["batch", *outputs.shape[1:]]},
        "class_names": trained.class_names(num_classes) if num_classes else None,
        "preprocessing": {
            "datamodule": trained.config["data"].get("_target_"),
            "note": "inputs are expected scaled as in training; `transform_inputs` of the datamodule does it",
            **scaling,
        },
        "parity": {
            "max_abs_diff": parity.max_abs_diff,
            "samples": parity.samples,
            "tolerance": parity.tolerance,
        },
        "checkpoint": {"path": str(trained.checkpoint), "sha256": trained.sha256},
        "data_state": _json_state(datamodule),
        "config": trained.config,
        "torch_version": torch.__version__,
        "exported_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def export_trained(
    trained: TrainedModel, fmt: str, out_dir: Path, inputs: Tensor, tolerance: float, name: str = "model"
) -> tuple[Path, Parity]:
    """Export, check parity on ``inputs`` and only then put ``<name>.<ext>`` and its metadata in ``out_dir``.

    Above ``tolerance`` nothing is left behind and the error names the difference.
    """
    if fmt not in FORMATS:
        raise ConfigError("format", f"got {fmt!r}; allowed: {', '.join(FORMATS)}")
    network = exportable(trained.model)
    staging = out_dir / f".{name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        staged = staging / f"{name}{FORMATS[fmt]}"
        export_network(network, inputs[:2], fmt, staged)
        parity = check_parity(network, staged, fmt, inputs, tolerance)
        if not parity.ok:
            raise UserError(
                f"export.tolerance: exported {fmt} differs from the eager model by {parity.max_abs_diff:.3g} "
                f"on {parity.samples} test inputs; allowed: at most {tolerance:g} (nothing was written)"
            )
        with torch.no_grad():
            outputs = network(inputs[:1])
        meta = metadata(trained, fmt, inputs, parity, outputs)
        (staging / f"{name}{FORMATS[fmt]}{METADATA_SUFFIX}").write_text(json.dumps(meta, indent=2) + "\n")
        for item in staging.iterdir():
            os.replace(item, out_dir / item.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out_dir / f"{name}{FORMATS[fmt]}", parity
