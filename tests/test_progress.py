from __future__ import annotations

import io

import pytest
from lightning.pytorch.callbacks import RichProgressBar

from lightning_hydra_template.callbacks.progress import EpochLineProgress, auto_progress_bar


class _Stdout(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


@pytest.mark.parametrize(("tty", "expected"), [(True, RichProgressBar), (False, EpochLineProgress)])
def test_auto_picks_rich_only_in_a_terminal(monkeypatch, tty, expected):
    monkeypatch.setattr("sys.stdout", _Stdout(tty))
    assert isinstance(auto_progress_bar("auto"), expected)


def test_forced_styles_and_bad_style():
    assert isinstance(auto_progress_bar("rich"), RichProgressBar)
    assert isinstance(auto_progress_bar("lines"), EpochLineProgress)
    with pytest.raises(ValueError, match="auto, rich or lines"):
        auto_progress_bar("bars")


def test_one_line_per_epoch_when_not_a_terminal(make_cfg, capsys):
    from lightning_hydra_template.train import train

    train(make_cfg(["trainer.max_epochs=3", "model/net=mlp", "~callbacks.early_stopping"]))
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch ")]
    assert [line.split(" | ")[0] for line in lines] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
    assert all("train/loss" in line and "val/acc" in line for line in lines)
