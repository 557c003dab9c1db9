"""DDP on CPU: one run directory per job, full-split metrics, the same numbers as one process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lightning_hydra_template.train import train
from tests.conftest import run_module

# dropout off and whole batches only: the two-process run then sees exactly the samples of the
# one-process run in every optimizer step (rank r takes every 2nd sample of the same permutation)
SAME_STEPS = (
    "model/net=mlp",
    "model.net.dropout=0",
    "trainer.max_epochs=2",
    "+trainer.limit_train_batches=6",
)
CLI = ("~callbacks.model_summary", "callbacks.progress_bar.style=lines")


def _close(ddp: dict, single: dict) -> None:
    assert ddp["plan"]["global_batch_size"] == single["plan"]["global_batch_size"] == 64
    assert ddp["global_step"] == single["global_step"] == 12
    assert len(ddp["history"]) == len(single["history"]) == 2
    for a, b in zip(ddp["history"], single["history"], strict=True):
        for key in ("train/loss", "val/loss", "val/acc"):
            assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-5), key
    for key, value in single["test"].items():
        assert ddp["test"][key] == pytest.approx(value, rel=1e-4, abs=1e-5), key


# example:digits
@pytest.mark.slow
def test_ddp_cpu_under_multirun_matches_single_process(tmp_path: Path, make_cfg) -> None:
    """Budget: ~30-60 s on 2 busy cores (2 jobs x 2 processes, forked for fit and for test)."""
    args = ["-m", "trainer=ddp_cpu", "data.batch_size=32", *SAME_STEPS, *CLI, "seed=1,2"]
    result = run_module("lightning_hydra_template.train", args, tmp_path, timeout=500)
    assert result.returncode == 0, result.stdout[-1500:] + result.stderr[-1500:]
    logs = tmp_path / "logs" / "train"
    assert sorted(p.name for p in logs.iterdir()) == ["multiruns"]  # no stray run directories
    (sweep,) = (logs / "multiruns").iterdir()
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir()) == ["0", "1"]
    for job, seed in (("0", 1), ("1", 2)):
        run = sweep / job
        assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["epoch_002.ckpt", "last.ckpt"]
        assert (run / "csv" / "metrics.csv").is_file()
        ddp = json.loads((run / "summary.json").read_text())
        assert ddp["plan"]["world_size"] == 2 and ddp["plan"]["batch_size"] == 32
        assert ddp["status"] == "completed"
        single = train(make_cfg([*SAME_STEPS, "trainer=cpu", "data.batch_size=64", f"seed={seed}"]))
        _close(ddp, single)
    assert "32 per device x 2 devices = 64 per iteration" in result.stdout


# /example:digits


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# example:digits
@pytest.mark.slow
def test_torchrun_two_nodes_on_loopback(tmp_path: Path, make_cfg) -> None:
    """Budget: ~30-60 s (two torchrun agents, one worker each, gloo over 127.0.0.1)."""
    run_dir = tmp_path / "logs" / "train" / "runs" / "two_nodes"
    port = _free_port()
    env = {
        **os.environ,
        "LHT_LOG_DIR": str(tmp_path / "logs"),
        "PYTHONUNBUFFERED": "1",
        "OMP_NUM_THREADS": "1",
    }
    nodes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "torch.distributed.run",
                "--nnodes=2",
                "--nproc_per_node=1",
                f"--node_rank={rank}",
                "--master_addr=127.0.0.1",
                f"--master_port={port}",
                "-m",
                "lightning_hydra_template.train",
                "trainer=torchrun",
                "trainer.accelerator=cpu",
                "data.batch_size=32",
                *SAME_STEPS,
                *CLI,
                "seed=3",
                f"hydra.run.dir={run_dir}",
            ],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip
        for rank in (0, 1)
    ]
    outputs = [node.communicate(timeout=400)[0] for node in nodes]
    assert [n.returncode for n in nodes] == [0, 0], outputs[0][-2000:] + outputs[1][-2000:]
    assert [p.name for p in run_dir.parent.iterdir()] == ["two_nodes"]
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["epoch_002.ckpt", "last.ckpt"]
    ddp = json.loads((run_dir / "summary.json").read_text())
    assert ddp["plan"]["world_size"] == 2
    single = train(make_cfg([*SAME_STEPS, "trainer=cpu", "data.batch_size=64", "seed=3"]))
    _close(ddp, single)


# /example:digits


@pytest.mark.parametrize("num_samples", [270, 271])
def test_eval_shards_cover_every_sample_exactly_once(num_samples: int) -> None:
    import torch

    from lightning_hydra_template.data.in_memory import InMemoryLoader

    ids = torch.arange(num_samples)
    seen = []
    for rank in (0, 1):
        loader = InMemoryLoader((ids,), batch_size=64, rank=rank, world_size=2, even_shards=False)
        seen += [int(i) for (batch,) in loader for i in batch]
    assert sorted(seen) == list(range(num_samples))


# example:digits
@pytest.mark.slow
def test_ddp_ranks_end_with_the_same_parameters_and_buffers(tmp_path: Path) -> None:
    """The CNN's BatchNorm running statistics are buffers: every rank must validate, and end with,
    the model the checkpoint holds. Budget: ~30-60 s (2 processes, 4 steps)."""
    ranks = tmp_path / "ranks"
    args = [
        "trainer=ddp_cpu",
        "model/net=cnn",
        "data.batch_size=32",
        "trainer.max_epochs=1",
        "+trainer.limit_train_batches=4",
        "test=false",
        "logger=none",
        *CLI,
        "+callbacks.rank_state._target_=tests.components.RankState",
        f"+callbacks.rank_state.directory={ranks}",
    ]
    repo = Path(__file__).resolve().parents[1]
    result = run_module(
        "lightning_hydra_template.train", args, tmp_path, env={"PYTHONPATH": str(repo)}, timeout=500
    )
    assert result.returncode == 0, result.stdout[-1500:] + result.stderr[-1500:]
    first, second = (torch.load(ranks / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert first.keys() == second.keys()
    assert any(name.endswith("running_mean") for name in first)
    differ = [name for name in first if not torch.equal(first[name], second[name])]
    assert not differ, f"ranks differ in {differ}"


# /example:digits
