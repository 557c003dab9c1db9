"""Export a checkpoint's network: rebuild it -> export (ONNX or torch.export) -> parity check -> write.

    make export ckpt_path=logs/train/runs/<run>/checkpoints/last.ckpt format=onnx
    make export ckpt_path=<ckpt> format=pt2 tolerance=1e-5

Writes <run dir>/model.onnx (or model.pt2) and model.onnx.json with input shape and dtype, scaling,
class names, the training config and the checkpoint's hash. The parity check compares the eager model
with the exported file on real test inputs and fails, writing nothing, above ``tolerance``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from lightning_hydra_template.cli import hydra_entry
from lightning_hydra_template.config.errors import ConfigError
from lightning_hydra_template.config.validation import validate_config


def export(cfg: DictConfig) -> dict[str, Any]:
    validate_config(cfg)
    if cfg.format not in ("onnx", "pt2"):
        raise ConfigError("format", f"got {cfg.format!r}; allowed: onnx, pt2")
    tolerance = cfg.tolerance
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or tolerance < 0:
        raise ConfigError("tolerance", f"got {tolerance!r}; allowed: a number >= 0")
    if (
        isinstance(cfg.parity_samples, bool)
        or not isinstance(cfg.parity_samples, int)
        or cfg.parity_samples < 1
    ):
        raise ConfigError("parity_samples", f"got {cfg.parity_samples!r}; allowed: an integer >= 1")

    import torch

    from lightning_hydra_template.deploy.export import export_trained
    from lightning_hydra_template.deploy.inputs import held_out_inputs
    from lightning_hydra_template.deploy.loading import load_trained
    from lightning_hydra_template.runs.environment import configure_warnings

    configure_warnings(cfg.extras.get("ignore_warnings", True))
    if cfg.seed is not None:
        torch.manual_seed(cfg.seed)
    trained = load_trained(cfg.ckpt_path)
    inputs = held_out_inputs(trained.datamodule, limit=cfg.parity_samples).tensor().float()
    path, parity = export_trained(trained, cfg.format, Path(cfg.paths.output_dir), inputs, float(tolerance))
    print(f"Exported {cfg.ckpt_path} as {cfg.format}: {path}")
    print(
        f"  parity on {parity.samples} test inputs: max |eager - exported| = {parity.max_abs_diff:.3g}"
        f" (tolerance {parity.tolerance:g})"
    )
    print(f"  metadata: {path}.json")
    return {"path": str(path), "max_abs_diff": parity.max_abs_diff}


main = hydra_entry("export", export)

if __name__ == "__main__":
    main()
