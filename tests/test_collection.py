"""The collector is paused while a run starts and what start-up created is frozen once; a run that ends
early (an error, --help) leaves the collector as it was."""

from __future__ import annotations

import gc

import pytest

from lightning_hydra_template.utils import collection
from lightning_hydra_template.utils.collection import collection_paused, freeze_start_up


@pytest.fixture
def fresh_freeze(monkeypatch):
    """A process that has frozen nothing yet (an in-process run of an entry point may have)."""
    gc.unfreeze()
    monkeypatch.setattr(collection, "_frozen", False)
    yield
    gc.unfreeze()


def test_paused_start_up_then_frozen_once_and_collected_again(fresh_freeze):
    assert gc.isenabled()
    with collection_paused():
        assert not gc.isenabled()
        start_up_objects = [[i] for i in range(1000)]
        freeze_start_up()
        assert gc.isenabled()
        frozen = gc.get_freeze_count()
        assert frozen >= len(start_up_objects)
        freeze_start_up()  # a second job of a sweep: nothing more is frozen
        assert gc.get_freeze_count() == frozen
    assert gc.isenabled()


def test_an_early_end_leaves_the_collector_as_it_was(fresh_freeze):
    with pytest.raises(SystemExit), collection_paused():
        raise SystemExit(2)
    assert gc.isenabled() and gc.get_freeze_count() == 0
    gc.disable()
    try:
        with collection_paused():
            freeze_start_up()
            assert not gc.isenabled()  # it was off before: freezing does not switch it on
        assert not gc.isenabled()
    finally:
        gc.enable()
