"""One interface over a checkpoint and an exported file: raw samples in, predictions out.

The service uses it; so can any script. Raw samples are in the units of the datamodule's
``load_arrays`` inputs and are scaled by its ``transform_inputs``, as in ``make predict``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lightning_hydra_template.config.errors import ConfigError, UserError
from lightning_hydra_template.deploy.export import (
    FORMATS,
    METADATA_SUFFIX,
    PredictionNetwork,
    exportable,
    exported_runner,
)


class Predictor:
    def __init__(self, path: str | Path) -> None:
        from hydra.utils import instantiate

        from lightning_hydra_template.deploy.inputs import sample_shape
        from lightning_hydra_template.deploy.loading import load_trained

        self.path = Path(path)
        self.format = next((fmt for fmt, ext in FORMATS.items() if self.path.suffix == ext), "ckpt")
        if self.format == "ckpt":
            trained = load_trained(self.path)
            self.network: PredictionNetwork | None = exportable(trained.model)
            self.datamodule = trained.datamodule
            self.kind = trained.kind
            names_of: Callable[[int], list[str]] = trained.class_names
        else:
            meta = self._metadata()
            self.network = None
            self._run_exported = exported_runner(self.path, self.format)
            self.datamodule = instantiate(meta["config"]["data"])
            if meta.get("data_state"):  # e.g. an image folder's class names and input shape
                self.datamodule.load_state_dict(meta["data_state"])
            self.kind = meta["prediction_kind"]
            stored = meta.get("class_names")
            names_of = lambda n: stored if stored and len(stored) == n else [str(i) for i in range(n)]  # noqa: E731
        self.sample_shape = sample_shape(self.datamodule)
        probe = self.predict(np.zeros((1, *self.sample_shape), dtype=np.float32), prepared=True)
        self.class_names = names_of(probe.shape[1]) if self.kind in ("classes", "masks") else []

    def _metadata(self) -> dict[str, Any]:
        meta_path = self.path.with_name(self.path.name + METADATA_SUFFIX)
        if not self.path.is_file():
            raise ConfigError("ckpt_path", f"no file at {self.path}; allowed: a .ckpt, .onnx or .pt2 file")
        if not meta_path.is_file():
            raise UserError(f"ckpt_path: {meta_path} is missing; serve a file written by `make export`")
        return json.loads(meta_path.read_text())

    def prepare(self, raw: np.ndarray) -> np.ndarray:
        transform = getattr(self.datamodule, "transform_inputs", lambda x: x)
        return np.ascontiguousarray(transform(raw.astype(np.float32)), dtype=np.float32)

    @property
    def reads_image_files(self) -> bool:
        """Whether the datamodule prepares encoded images itself (its own resizing and normalisation)."""
        return callable(getattr(self.datamodule, "prepare_image", None))

    def prepare_image(self, encoded: bytes) -> np.ndarray:
        """A PNG/JPEG file's bytes as one prepared sample ``(1, C, H, W)``; ``ValueError`` when unreadable."""
        return self.datamodule.prepare_image(encoded).numpy()[None].astype(np.float32)

    def predict(self, samples: np.ndarray, prepared: bool = False) -> np.ndarray:
        inputs = samples if prepared else self.prepare(samples)
        if self.network is not None:
            with torch.inference_mode():
                return self.network(torch.from_numpy(inputs)).float().numpy()
        return self._run_exported(inputs)

    def describe(self, predictions: np.ndarray) -> list[dict[str, Any]]:
        """One JSON-ready answer per sample, with the same fields as a row of ``make predict``'s table."""
        answers = []
        for values in predictions:
            if self.kind == "classes":
                best = int(values.argmax())
                answers.append(
                    {
                        "predicted": best,
                        "predicted_name": self.class_names[best],
                        "probabilities": dict(zip(self.class_names, values.tolist(), strict=True)),
                    }
                )
            elif self.kind == "masks":
                answers.append({"mask": values.argmax(axis=0).tolist(), "class_names": self.class_names})
            else:
                answers.append({"prediction": values.reshape(-1).tolist()})
        return answers
