"""Loading checkpoints safely (``weights_only=True``) and rebuilding their model and data."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

from lightning_hydra_template.config.errors import ConfigError, UserError
from lightning_hydra_template.config.validation import checkpoint_file_problem

CONFIG_KEY = "lht_config"  # the checkpoint entry holding the run's resolved, secret-masked config


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True``: tensors and plain containers only, no code runs."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise ConfigError("ckpt_path", f"no checkpoint file at {path}")
    if problem := checkpoint_file_problem(path):
        raise ConfigError("ckpt_path", f"{path} {problem}; allowed: a .ckpt file written by a training run")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise UserError(
            f"{path}: refused to load: it holds Python objects other than tensors and plain containers "
            f"({_first_line(err)})"
        ) from err
    except Exception as err:  # damaged bytes surface as RuntimeError, EOFError, IndexError, BadZipFile...
        raise UserError(
            f"{path}: not a readable checkpoint (truncated or corrupt?): {_first_line(err)}"
        ) from err
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise UserError(f"{path}: not a Lightning checkpoint (no state_dict)")
    return checkpoint


def _first_line(err: BaseException) -> str:
    """The start of an exception's message; its type when the message is empty (EOFError())."""
    lines = str(err).strip().splitlines()
    return lines[0][:160] if lines else type(err).__name__


def training_config(checkpoint: dict[str, Any], path: str | Path) -> dict[str, Any]:
    """The resolved training config embedded by the EmbedConfig callback."""
    config = checkpoint.get(CONFIG_KEY)
    if not isinstance(config, dict):
        raise UserError(
            f"{path}: this checkpoint carries no training config (was it written by this template?)"
        )
    return config


def rebuild_model(checkpoint: dict[str, Any], config: dict[str, Any], path: str | Path) -> Any:
    """The LightningModule of the checkpoint, with its weights, built from its stored hyperparameters."""
    from hydra.utils import get_class

    model_cls = get_class(config["model"]["_target_"])
    model = model_cls(**checkpoint.get("hyper_parameters", {}))
    try:
        model.load_state_dict(checkpoint["state_dict"])
    except RuntimeError as err:
        raise UserError(
            f"{path}: weights do not fit {model_cls.__name__} with the stored network config: "
            f"{str(err).splitlines()[0][:200]}"
        ) from err
    return model
