"""The peer's start-up: lightning-hydra-template's ``src/train.py debug=fdr`` in a checkout the user
provides (``make bench BENCH_ARGS="--peer <dir>"``), on this interpreter, so both sides import the same
torch and Lightning. Its MNIST is written here in the real file format (random pixels), as this machine
cannot download it; loading 70,000 images is part of the peer's start-up, as it would be with the real files."""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import numpy as np

from benchmarks.startup import ProcessTime, bench_env, timed_run

MNIST_SIZES = {"train": 60_000, "t10k": 10_000}
# The peer imports wandb at exit when it is installed; its own requirements leave wandb out, so it is hidden
# here to time the peer as its users run it.
PEER_MAIN = (
    "import runpy, sys; sys.modules['wandb'] = None; sys.argv = ['src/train.py', *sys.argv[1:]]; "
    "runpy.run_path('src/train.py', run_name='__main__')"
)


def check_peer_dir(peer_dir: Path) -> str | None:
    """Why ``peer_dir`` cannot be the peer's checkout, or None."""
    if (
        not (peer_dir / "src" / "train.py").is_file()
        or not (peer_dir / "configs" / "debug" / "fdr.yaml").is_file()
    ):
        return f"{peer_dir} holds no src/train.py and configs/debug/fdr.yaml (a lightning-hydra-template checkout)"
    return None


def write_mnist(root: Path, sizes: dict[str, int] = MNIST_SIZES, seed: int = 0) -> Path:
    """``<root>/MNIST/raw/*-ubyte``: images and labels in the idx format torchvision's MNIST reads."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for prefix, count in sizes.items():
        images = rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=count, dtype=np.uint8)
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(
            struct.pack(">IIII", 0x803, count, 28, 28) + images.tobytes()
        )
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 0x801, count) + labels.tobytes())
    return root


def peer_fdr_time(peer_dir: Path, workdir: Path, data_dir: Path) -> ProcessTime:
    """The peer's whole ``src/train.py debug=fdr``, process start to exit, with its logs under ``workdir``."""
    overrides = [f"paths.data_dir={data_dir}", f"paths.log_dir={workdir / 'peer-logs'}"]
    return timed_run([sys.executable, "-c", PEER_MAIN, "debug=fdr", *overrides], peer_dir, bench_env(workdir))
