"""`make bench BENCH_ARGS="--peer <dir>"`: lightning-hydra-template's start-up, timed from its own checkout on
MNIST files written in the real format (this machine cannot download MNIST)."""

from __future__ import annotations

import json

import pytest
from benchmarks.__main__ import parse_args
from benchmarks.peer import peer_fdr_time, write_mnist

FAKE_PEER_TRAIN = """
import json, sys
from pathlib import Path
try:
    import wandb  # noqa: F401
    wandb_hidden = False
except ImportError:
    wandb_hidden = True
overrides = dict(arg.split("=", 1) for arg in sys.argv[1:])
Path(overrides["paths.log_dir"]).mkdir(parents=True)
Path(overrides["paths.log_dir"], "seen.json").write_text(json.dumps({"argv": sys.argv, "wandb_hidden": wandb_hidden}))
"""


def test_written_mnist_is_read_by_torchvision(tmp_path):
    from torchvision.datasets import MNIST

    root = write_mnist(tmp_path, sizes={"train": 30, "t10k": 7})
    train, test = MNIST(str(root), train=True, download=False), MNIST(str(root), train=False, download=False)
    assert (len(train), len(test)) == (30, 7)
    image, label = train[0]
    assert image.size == (28, 28) and 0 <= label <= 9
    assert train.data.shape == (30, 28, 28) and int(train.targets.max()) <= 9


def test_peer_runs_its_own_fdr_with_wandb_hidden(tmp_path):
    peer = tmp_path / "peer"
    (peer / "src").mkdir(parents=True)
    (peer / "configs" / "debug").mkdir(parents=True)
    (peer / "configs" / "debug" / "fdr.yaml").write_text("trainer:\n  fast_dev_run: true\n")
    (peer / "src" / "train.py").write_text(FAKE_PEER_TRAIN)
    assert parse_args(["--peer", str(peer)]).peer == peer

    timing = peer_fdr_time(peer, tmp_path / "work", tmp_path / "data")
    seen = json.loads((tmp_path / "work" / "peer-logs" / "seen.json").read_text())
    assert seen["argv"] == ["src/train.py", "debug=fdr", f"paths.data_dir={tmp_path / 'data'}",
                            f"paths.log_dir={tmp_path / 'work' / 'peer-logs'}"]  # fmt: skip
    assert seen["wandb_hidden"] is True
    assert timing.wall > 0 and timing.cpu >= 0


def test_a_folder_that_is_not_the_peer_is_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse_args(["--peer", str(tmp_path)])
    assert exit_info.value.code == 2
    assert f"--peer: {tmp_path} holds no src/train.py" in capsys.readouterr().err
