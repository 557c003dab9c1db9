"""The digits datamodule's split and the in-memory loader's batches."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lightning_hydra_template.data.digits import DigitsDataModule
from lightning_hydra_template.data.in_memory import InMemoryLoader


@pytest.fixture(scope="module")
def digits() -> DigitsDataModule:
    dm = DigitsDataModule(batch_size=64, val_fraction=0.15, test_fraction=0.15, split_seed=0)
    dm.setup("fit")
    return dm


def test_split_sizes_cover_every_sample_once(digits):
    sizes = {name: digits.num_samples(name) for name in ("train", "val", "test")}
    assert sum(sizes.values()) == 1797
    assert sizes["test"] == pytest.approx(0.15 * 1797, abs=1)
    assert sizes["val"] == pytest.approx(0.15 * 1797, abs=1)


def test_splits_do_not_overlap(digits):
    train, val, test = (set(digits.indices[name].tolist()) for name in ("train", "val", "test"))
    assert not train & val and not train & test and not val & test
    assert len(train | val | test) == 1797
    images, _ = digits.splits["test"]
    from sklearn.datasets import load_digits

    original = torch.from_numpy(load_digits().images[digits.indices["test"]] / 16.0).float()
    assert torch.equal(images[:, 0], original)


def test_split_indices_are_disjoint_and_deterministic():
    from lightning_hydra_template.data.base import split_indices

    labels = np.repeat(np.arange(10), 50)
    first = split_indices(500, 0.2, 0.1, seed=3, stratify=labels)
    again = split_indices(500, 0.2, 0.1, seed=3, stratify=labels)
    other = split_indices(500, 0.2, 0.1, seed=4, stratify=labels)
    assert all(np.array_equal(first[k], again[k]) for k in first)
    assert not np.array_equal(first["test"], other["test"])
    together = np.concatenate(list(first.values()))
    assert len(together) == len(set(together.tolist())) == 500


def test_stratified_class_balance(digits):
    overall = np.bincount(
        np.concatenate([digits.splits[s][1].numpy() for s in ("train", "val", "test")]), minlength=10
    )
    for split in ("train", "val", "test"):
        counts = np.bincount(digits.splits[split][1].numpy(), minlength=10)
        share = counts / counts.sum()
        assert np.abs(share - overall / overall.sum()).max() < 0.01, split


def test_pixels_scaled_once_to_unit_range(digits):
    images, _ = digits.splits["train"]
    assert images.dtype == torch.float32 and images.shape[1:] == (1, 8, 8)
    assert images.min() >= 0.0 and images.max() == 1.0


def test_full_batch_resolves_to_the_training_split(digits):
    digits.batch_size = "full"
    try:
        assert digits.resolve_batch_size() == digits.num_samples("train")
        assert len(digits.train_dataloader()) == 1
    finally:
        digits.batch_size = 64


def _loader(n=10, **kwargs):
    x = torch.arange(n, dtype=torch.float32)[:, None]
    return InMemoryLoader((x, torch.arange(n)), **kwargs)


def test_loader_batches_last_partial_and_drop_last():
    assert [len(b[0]) for b in _loader(10, batch_size=4)] == [4, 4, 2]
    assert [len(b[0]) for b in _loader(10, batch_size=4, drop_last=True)] == [4, 4]
    assert len(_loader(10, batch_size=4)) == 3 and len(_loader(10, batch_size=4, drop_last=True)) == 2


def test_loader_shuffles_per_epoch_reproducibly():
    loader = _loader(50, batch_size=50, shuffle=True, seed=7)
    loader.sampler.set_epoch(0)
    first = next(iter(loader))[1]
    loader.sampler.set_epoch(1)
    second = next(iter(loader))[1]
    loader.sampler.set_epoch(0)
    again = next(iter(loader))[1]
    assert torch.equal(first, again) and not torch.equal(first, second)
    assert sorted(first.tolist()) == list(range(50))


def test_loader_keeps_inputs_and_targets_aligned():
    for x, y in _loader(37, batch_size=8, shuffle=True, seed=1):
        assert torch.equal(x[:, 0].long(), y)


def test_ddp_shards_cover_eval_split_once_and_train_evenly():
    eval_seen = [torch.cat([b[1] for b in _loader(11, batch_size=4, rank=r, world_size=2)]) for r in (0, 1)]
    assert sorted(torch.cat(eval_seen).tolist()) == list(range(11))
    train = [_loader(11, batch_size=4, shuffle=True, rank=r, world_size=2, even_shards=True) for r in (0, 1)]
    assert len(train[0]) == len(train[1])
    seen = [torch.cat([b[1] for b in loader]) for loader in train]
    assert not set(seen[0].tolist()) & set(seen[1].tolist())
    assert len(seen[0]) == len(seen[1]) == 5
