"""`make bench`'s start-up section: the first-step probe loads in the bench's temporary folder."""

from __future__ import annotations

import pytest
from benchmarks.startup import first_step_seconds


@pytest.mark.slow
def test_first_step_probe_loads_from_a_temporary_folder(tmp_path):
    seconds = first_step_seconds(tmp_path, ("trainer.max_epochs=1", "test=false", "extras.plots=false"))
    assert 0 < seconds < 600
