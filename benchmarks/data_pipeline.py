"""The ``image_folder`` pipeline against a hand-written one over the same files and transforms.

Loader: images per second of the template's training loader (``StatefulDataLoader``, per-sample seeded
augmentation, workers) and of a plain ``DataLoader(shuffle=True)`` over a minimal dataset with the same
worker settings. Training: optimizer steps per second of ``train experiment=image_folder`` and of a
hand-written loop feeding the same network from the plain loader.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from benchmarks.overhead import TIMER, SideResult
from lightning_hydra_template.config.compose import compose_run_config

QUIET = ("callbacks.progress_bar.style=lines", "~callbacks.model_summary", "test=false", "logger=none")


def image_folder_overrides(data_dir: Path, images_per_class: int, epochs: int, accel: str) -> tuple[str, ...]:
    """``experiment=image_folder`` on a generated dataset of ``images_per_class`` images per class."""
    return (
        "experiment=image_folder",
        f"paths.data_dir={data_dir}",
        f"data.root={data_dir}/bench_{images_per_class}",
        f"data.generate.images_per_class={images_per_class}",
        f"trainer.max_epochs={epochs}",
        "callbacks.early_stopping=null",
        accel,
        *QUIET,
    )


def compose(overrides: Sequence[str], workdir: Path) -> DictConfig:
    out = Path(tempfile.mkdtemp(prefix="images-", dir=workdir))
    return compose_run_config([*overrides, TIMER], out / "run", log_dir=out)


def template_datamodule(cfg: DictConfig) -> Any:
    from hydra.utils import instantiate

    datamodule = instantiate(cfg.data)
    datamodule.setup("fit")
    return datamodule


class _PlainImages:
    """What a person writes: decode the file, apply the transforms (the same objects), return the label."""

    def __init__(self, files: list[str], targets: list[int], transform: Any) -> None:
        self.files, self.targets, self.transform = files, targets, transform

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        import torch
        from torchvision.io import ImageReadMode, decode_image
        from torchvision.tv_tensors import Image

        image = self.transform(Image(decode_image(self.files[index], mode=ImageReadMode.RGB)))
        return image.as_subclass(torch.Tensor), self.targets[index]


def hand_loader(datamodule: Any) -> Any:
    """A plain ``DataLoader`` over the template's training files, transforms and worker settings."""
    import torch
    from torch.utils.data import DataLoader

    images = datamodule.images["train"]
    options = datamodule.loader_options()
    return DataLoader(
        _PlainImages(images.files, images.targets, datamodule.train_transforms),
        batch_size=datamodule.batch_size,
        shuffle=True,
        drop_last=datamodule.drop_last,
        generator=torch.Generator().manual_seed(0),
        **options,
    )


def images_per_second(loader: Any, epochs: int) -> float:
    """Iterate ``epochs`` full epochs; the first batch of the first epoch (worker start) is not timed."""
    iterator = iter(loader)
    next(iterator)
    seen, start = 0, time.perf_counter()
    for epoch in range(epochs):
        if epoch:
            if hasattr(loader.sampler, "set_epoch"):
                loader.sampler.set_epoch(epoch)
            iterator = iter(loader)
        for images, _ in iterator:
            seen += images.shape[0]
    return seen / (time.perf_counter() - start)


def run_template(overrides: Sequence[str], workdir: Path) -> SideResult:
    """``train()`` as a user runs it, timed by the training-phase callback."""
    import contextlib
    import io

    from benchmarks.timing import TrainPhaseTimer
    from lightning_hydra_template.train import train

    cfg = compose(overrides, workdir)
    TrainPhaseTimer.instances.clear()
    with contextlib.redirect_stdout(io.StringIO()):
        train(cfg)
    timer = TrainPhaseTimer.instances[-1]
    return SideResult(timer.train_seconds, timer.fit_seconds, timer.steps, timer.train_cpu_seconds)


def run_hand(overrides: Sequence[str], workdir: Path, device: str = "cpu") -> SideResult:
    """A hand-written loop: the plain loader, the same network and optimizer, validation per epoch."""
    import lightning.pytorch as pl
    import torch
    from hydra.utils import instantiate

    from benchmarks.timing import synchronize
    from lightning_hydra_template.runs.model_from_data import build_model

    cfg = compose(overrides, workdir)
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = template_datamodule(cfg)
    net = build_model(cfg, datamodule).net.to(device)
    optimizer = instantiate(cfg.optimizer, params=net.parameters())
    train_loader, val_loader = hand_loader(datamodule), datamodule.val_dataloader()
    train_seconds = train_cpu = steps = 0
    fit_start = time.perf_counter()
    for _ in range(int(cfg.trainer.max_epochs)):
        start, cpu_start = time.perf_counter(), time.process_time()
        net.train()
        for images, targets in train_loader:
            images, targets = images.to(device, non_blocking=True), targets.to(device, non_blocking=True)
            loss = torch.nn.functional.cross_entropy(net(images), targets)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            steps += 1
        synchronize(device)
        train_seconds += time.perf_counter() - start
        train_cpu += time.process_time() - cpu_start
        net.eval()
        with torch.no_grad():
            for images, targets in val_loader:
                net(images.to(device)).argmax(dim=1).eq(targets.to(device)).sum()
    return SideResult(train_seconds, time.perf_counter() - fit_start, steps, train_cpu)
