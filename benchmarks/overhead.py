"""Per-step cost of the template's training path against a hand-written PyTorch loop doing the same
math, and against ``Trainer(barebones=True)``.

All three sides build the network, optimizer and scheduler from the same composed config, seed the
same way, and read the training split in the same per-epoch order (the template's ``InMemoryLoader``).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from lightning_hydra_template.config.compose import CONFIG_DIR, compose_run_config

# The template as a user runs it, minus what would print or write outside the benchmark's folder.
TIMER = "+callbacks.bench_timer._target_=benchmarks.timing.TrainPhaseTimer"
QUIET = ("callbacks.progress_bar.style=lines", "~callbacks.model_summary", "test=false")
TINY_MLP = ("model/net=mlp", "model.net.hidden_sizes=[128]", "model.net.dropout=0.0")
# Step-level logging off: an interval beyond any benchmark run's last step.
NO_STEP_LOGGING = "trainer.log_every_n_steps=1000000000"


def default_log_every_n_steps() -> int:
    """``trainer.log_every_n_steps`` as configured by default."""

    return int(OmegaConf.load(CONFIG_DIR / "trainer" / "default.yaml").log_every_n_steps)


@dataclass
class SideResult:
    """One run of one side: wall time of the training phase and of the whole fit, optimizer steps."""

    train_seconds: float
    fit_seconds: float
    steps: int
    train_cpu_seconds: float = 0.0

    @property
    def cpu_step_ms(self) -> float:
        return 1000.0 * self.train_cpu_seconds / max(self.steps, 1)

    @property
    def step_ms(self) -> float:
        return 1000.0 * self.train_seconds / max(self.steps, 1)

    @property
    def fit_step_ms(self) -> float:
        return 1000.0 * self.fit_seconds / max(self.steps, 1)


def _silence_lightning() -> None:
    import logging
    import warnings

    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="lightning")


def run_template(overrides: Sequence[str], workdir: Path) -> SideResult:
    """The real ``train()`` path: default callbacks, CSV logger, checkpoints, progress display."""
    import contextlib
    import io

    from benchmarks.timing import TrainPhaseTimer
    from lightning_hydra_template.train import train

    out = Path(tempfile.mkdtemp(prefix="template-", dir=workdir))
    cfg = compose_run_config([*overrides, TIMER], out / "run", log_dir=out)
    TrainPhaseTimer.instances.clear()
    with contextlib.redirect_stdout(io.StringIO()):
        train(cfg)
    _silence_lightning()
    timer = TrainPhaseTimer.instances[-1]
    return SideResult(timer.train_seconds, timer.fit_seconds, timer.steps, timer.train_cpu_seconds)


def _build(cfg: DictConfig, device: Any) -> tuple[Any, Any, Any, Any, Any]:
    """Data, network, loss, optimizer and scheduler exactly as ``train()`` would build them."""
    import lightning.pytorch as pl
    from hydra.utils import instantiate

    from lightning_hydra_template.models.base import SCHEDULER_LIGHTNING_KEYS
    from lightning_hydra_template.runs.model_from_data import build_model

    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = instantiate(cfg.data)
    datamodule.setup("fit")
    model = build_model(cfg, datamodule)
    net = model.net.to(device)
    optimizer = instantiate(cfg.optimizer, params=net.parameters())
    scheduler = None
    if cfg.get("scheduler"):
        sched_cfg = OmegaConf.to_container(cfg.scheduler, resolve=True)
        for key in SCHEDULER_LIGHTNING_KEYS:
            sched_cfg.pop(key, None)
        scheduler = instantiate(sched_cfg, optimizer=optimizer)
    return datamodule, net, model.compute_loss, optimizer, scheduler


def run_handwritten(overrides: Sequence[str], workdir: Path, device: str = "cpu") -> SideResult:
    """What a careful person writes by hand: the same steps, a running loss and accuracy on the device,
    validation after every epoch, the scheduler stepped per epoch, and a checkpoint (network and
    optimizer state) saved after every epoch."""
    import torch

    from benchmarks.timing import synchronize

    out = Path(tempfile.mkdtemp(prefix="hand-", dir=workdir))
    cfg = compose_run_config(overrides, out / "run", log_dir=out)
    datamodule, net, loss_fn, optimizer, scheduler = _build(cfg, device)
    train_loader = datamodule.train_dataloader()
    val_loader = datamodule.val_dataloader()
    train_seconds = train_cpu_seconds = steps = 0
    synchronize(device)
    fit_start = time.perf_counter()
    for epoch in range(int(cfg.trainer.max_epochs)):
        epoch_start, epoch_cpu_start = time.perf_counter(), time.process_time()
        net.train()
        train_loader.sampler.set_epoch(epoch)
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        for inputs, targets in train_loader:
            inputs = inputs.to(device, non_blocking=True)
            targets = targets.to(device, non_blocking=True)
            outputs = net(inputs)
            loss = loss_fn(outputs, targets)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += loss.detach() * targets.shape[0]
            correct += (outputs.detach().argmax(dim=1) == targets).sum()
            steps += 1
        synchronize(device)
        train_seconds += time.perf_counter() - epoch_start
        train_cpu_seconds += time.process_time() - epoch_cpu_start
        net.eval()
        val_correct = torch.zeros((), device=device, dtype=torch.long)
        with torch.no_grad():
            for inputs, targets in val_loader:
                inputs, targets = inputs.to(device), targets.to(device)
                val_correct += (net(inputs).argmax(dim=1) == targets).sum()
        float(val_correct), float(loss_sum), float(correct)  # what a person prints per epoch
        if scheduler is not None:
            scheduler.step()
        torch.save({"net": net.state_dict(), "optimizer": optimizer.state_dict()}, out / "last.pt")
    synchronize(device)
    return SideResult(train_seconds, time.perf_counter() - fit_start, steps, train_cpu_seconds)


def run_barebones(overrides: Sequence[str], workdir: Path, device: str = "cpu") -> SideResult:
    """``Trainer(barebones=True)`` on a LightningModule that holds only the math: Lightning's own floor."""
    import lightning.pytorch as pl

    from benchmarks.timing import TrainPhaseTimer

    out = Path(tempfile.mkdtemp(prefix="bare-", dir=workdir))
    cfg = compose_run_config(overrides, out / "run", log_dir=out)
    datamodule, net, loss_fn, optimizer, scheduler = _build(cfg, "cpu")

    class MathOnly(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            inputs, targets = batch
            return loss_fn(self.net(inputs), targets)

        def configure_optimizers(self) -> Any:
            if scheduler is None:
                return optimizer
            return {"optimizer": optimizer, "lr_scheduler": scheduler}

    timer = TrainPhaseTimer()
    trainer = pl.Trainer(
        barebones=True,
        accelerator="gpu" if device.startswith("cuda") else "cpu",
        devices=1,
        max_epochs=int(cfg.trainer.max_epochs),
        callbacks=[timer],
        default_root_dir=str(out),
    )
    trainer.fit(MathOnly(), train_dataloaders=datamodule.train_dataloader())
    return SideResult(timer.train_seconds, timer.fit_seconds, timer.steps, timer.train_cpu_seconds)
