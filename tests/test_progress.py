from __future__ import annotations

import io

import pytest
from lightning.pytorch import Callback
from lightning.pytorch.callbacks import RichProgressBar
from rich.text import Text

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


# example:digits
def test_one_line_per_epoch_when_not_a_terminal(make_cfg, capsys):
    from lightning_hydra_template.train import train

    train(make_cfg(["trainer.max_epochs=3", "model/net=mlp", "~callbacks.early_stopping"]))
    out = capsys.readouterr().out.splitlines()
    # the seconds before the plan say what is happening
    assert out[0].startswith("Loading torch and Lightning ... (run directory ")
    assert out[1] == "Preparing the data (DigitsDataModule) and the model ..."
    assert out[2].startswith("Run plan")
    lines = [line for line in out if line.startswith("epoch ")]
    assert [line.split(" | ")[0] for line in lines] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
    assert all("train/loss" in line and "val/acc" in line for line in lines)


# /example:digits


class _TrainBarDescriptions(Callback):
    """Reads the Rich training bar's description at every epoch start (after the bar's own hook)."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.shown: list[dict] = []  # the metrics the bar shows, at every epoch start

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        bar = trainer.progress_bar_callback
        description = bar.progress.tasks[bar.train_progress_bar_id].description
        self.seen.append(Text.from_markup(description).plain.strip())
        self.shown.append(bar.get_metrics(trainer, pl_module))


# example:digits
def test_rich_bar_counts_epochs_from_one(make_cfg):
    from lightning_hydra_template.train import train

    spy = _TrainBarDescriptions()
    overrides = ["trainer.max_epochs=2", "model/net=mlp", "callbacks.progress_bar.style=rich", "test=false"]
    summary = train(make_cfg([*overrides, "trainer.log_every_n_steps=5"]), extra_callbacks=[spy])
    assert spy.seen == ["Epoch 1/2", "Epoch 2/2"]  # Lightning's own bar says "Epoch 0/1", "Epoch 1/1"
    assert "val/acc" not in spy.shown[0]  # the sanity check's values are not shown
    first_epoch = summary["history"][0]
    assert spy.shown[1]["val/acc"] == pytest.approx(first_epoch["val/acc"])  # the last validation's
    assert spy.shown[1]["val/loss"] == pytest.approx(first_epoch["val/loss"])
    assert isinstance(spy.shown[1]["loss"], float)  # the running training loss


# /example:digits
