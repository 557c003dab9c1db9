"""Serve a checkpoint or an exported model over HTTP (LitServe), until Ctrl-C.

    make serve ckpt_path=logs/train/runs/<run>/checkpoints/last.ckpt
    make serve ckpt_path=logs/export/runs/<run>/model.onnx port=8080

    curl -s localhost:8000/health
    curl -s localhost:8000/predict -H 'content-type: application/json' -d '{"inputs": [[...]]}'

Request and answer formats: src/lightning_hydra_template/deploy/service.py.
"""

from __future__ import annotations

import signal
from pathlib import Path

from omegaconf import DictConfig

from lightning_hydra_template.cli import hydra_entry
from lightning_hydra_template.config.errors import ConfigError


def _check(cfg: DictConfig) -> None:
    path = Path(str(cfg.ckpt_path))
    if path.suffix not in (".ckpt", ".onnx", ".pt2"):
        raise ConfigError("ckpt_path", f"{path.name}: unknown format; allowed: a .ckpt, .onnx or .pt2 file")
    if not path.is_file():
        raise ConfigError("ckpt_path", f"no file at {path}; allowed: a .ckpt, .onnx or .pt2 file")
    port = cfg.port
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ConfigError("port", f"got {port!r}; allowed: an integer from 1 to 65535")
    size = cfg.max_batch_size
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ConfigError("max_batch_size", f"got {size!r}; allowed: an integer >= 1")
    timeout = cfg.batch_timeout
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout < 0:
        raise ConfigError("batch_timeout", f"got {timeout!r}; allowed: a number of seconds >= 0")


def _stop_like_ctrl_c(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def serve(cfg: DictConfig) -> None:
    _check(cfg)
    from lightning_hydra_template.deploy.predictor import Predictor
    from lightning_hydra_template.deploy.service import build_server

    Predictor(cfg.ckpt_path)  # fails here, with one line, for a file that cannot be served
    server = build_server(str(cfg.ckpt_path), cfg.max_batch_size, float(cfg.batch_timeout))
    print(f"Serving {cfg.ckpt_path} on http://{cfg.host}:{cfg.port}/predict (health: /health)", flush=True)
    signal.signal(signal.SIGTERM, _stop_like_ctrl_c)  # LitServe stops its workers on KeyboardInterrupt
    server.run(host=cfg.host, port=cfg.port, generate_client_file=False, log_level="warning")


main = hydra_entry("serve", serve)

if __name__ == "__main__":
    main()
