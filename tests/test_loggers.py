"""Each logger is checked by reading back what it wrote."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from lightning_hydra_template.loggers.wandb import resolve_wandb_mode
from lightning_hydra_template.train import train
from tests.wandb_records import history_rows, run_config, run_tags_and_group

EPOCHS = ["trainer.max_epochs=3", "data.batch_size=256", "~callbacks.early_stopping"]


def _val_acc_by_epoch(summary: dict) -> list[float]:
    return [row["val/acc"] for row in summary["history"]]


# example:digits
def test_csv_and_tensorboard_hold_every_epoch(make_cfg):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    summary = train(make_cfg(["logger=many", *EPOCHS]))
    run_dir = Path(summary["run_dir"])
    expected = _val_acc_by_epoch(summary)
    assert len(expected) == 3

    with open(run_dir / "csv" / "metrics.csv") as handle:
        rows = list(csv.DictReader(handle))
    val_acc = [float(r["val/acc"]) for r in rows if r.get("val/acc")]
    assert val_acc == pytest.approx(expected)
    assert len([r for r in rows if r.get("train/loss")]) == 3
    assert [float(r["test/acc"]) for r in rows if r.get("test/acc")] == pytest.approx(
        [summary["test"]["test/acc"]]
    )

    events = EventAccumulator(str(run_dir / "tensorboard"))
    events.Reload()
    assert [e.value for e in events.Scalars("val/acc")] == pytest.approx(expected)
    assert len(events.Scalars("train/loss")) == 3


# /example:digits


# example:digits
def test_wandb_writes_an_offline_run_without_credentials(make_cfg, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("NETRC", "/nonexistent")
    summary = train(make_cfg(["logger=wandb", *EPOCHS]))
    import wandb

    wandb.teardown()  # the wandb service flushes a run's file completely when it shuts down
    run_files = list((Path(summary["run_dir"]) / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(run_files) == 1
    rows = history_rows(run_files[0])
    val_acc = [float(r["val/acc"]) for r in rows if "val/acc" in r]
    assert val_acc == pytest.approx(_val_acc_by_epoch(summary))
    assert [float(r["test/acc"]) for r in rows if "test/acc" in r] == pytest.approx(
        [summary["test"]["test/acc"]]
    )


# /example:digits


def test_wandb_mode_follows_credentials(monkeypatch, tmp_path):
    monkeypatch.setenv("NETRC", str(tmp_path / "missing"))
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    assert resolve_wandb_mode("auto") == "offline"
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    assert resolve_wandb_mode("auto") == "online"
    monkeypatch.delenv("WANDB_API_KEY")
    netrc = tmp_path / "netrc"
    netrc.write_text("machine api.wandb.ai\n  login user\n  password " + "y" * 40 + "\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    assert resolve_wandb_mode("auto") == "online"
    assert resolve_wandb_mode("disabled") == "disabled"
    with pytest.raises(ValueError, match="logger.wandb.mode"):
        resolve_wandb_mode("sometimes")


SECRET = "s3cr3t-value-for-tests"
HPARAMS = [
    "optimizer.lr=0.003",
    "data.batch_size=128",
    "tags=[dev,study]",
    f"+extras.api_token={SECRET}",  # masked by its key's name
    f"+extras.note=uses-{SECRET}",  # masked by content: the value of a secret environment variable
]


def _tensorboard_hparams(log_dir: Path) -> tuple[dict, list[str]]:
    """The HPARAMS plugin's session parameters and the metric names of its experiment."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import metadata, plugin_data_pb2

    events = EventAccumulator(str(log_dir))
    events.Reload()
    content = events.PluginTagToContent(metadata.PLUGIN_NAME)
    start = plugin_data_pb2.HParamsPluginData.FromString(content[metadata.SESSION_START_INFO_TAG])
    experiment = plugin_data_pb2.HParamsPluginData.FromString(content[metadata.EXPERIMENT_TAG])
    params = {}
    for key, value in start.session_start_info.hparams.items():
        params[key] = getattr(value, value.WhichOneof("kind"))
    metrics = [info.name.tag for info in experiment.experiment.metric_infos]
    return params, metrics


# example:digits
@pytest.mark.slow
def test_csv_and_tensorboard_get_the_masked_config_plan_and_metrics(make_cfg, monkeypatch):
    import yaml

    monkeypatch.setenv("LHT_TEST_API_KEY", SECRET)
    summary = train(make_cfg(["logger=many", *EPOCHS, *HPARAMS]))
    run_dir = Path(summary["run_dir"])

    csv_params = yaml.safe_load((run_dir / "csv" / "hparams.yaml").read_text())
    assert csv_params["optimizer.lr"] == 0.003 and csv_params["data.batch_size"] == 128
    assert csv_params["plan.optimizer_steps_per_epoch"] == summary["plan"]["optimizer_steps_per_epoch"]
    assert csv_params["tags"] == "['dev', 'study']"
    assert (csv_params["extras.api_token"], csv_params["extras.note"]) == ("***", "uses-***")
    assert SECRET not in (run_dir / "csv" / "hparams.yaml").read_text()

    params, metrics = _tensorboard_hparams(run_dir / "tensorboard")
    assert params["optimizer.lr"] == pytest.approx(0.003) and params["data.batch_size"] == 128
    assert params["extras.api_token"] == "***"
    assert sorted(metrics) == sorted(["hp/best_val/acc", *(f"hp/{name}" for name in summary["test"])])
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir / "tensorboard"))
    events.Reload()
    assert events.Scalars("hp/best_val/acc")[-1].value == pytest.approx(summary["best_value"])
    assert events.Scalars("hp/test/acc")[-1].value == pytest.approx(summary["test"]["test/acc"])


# /example:digits


@pytest.mark.slow
def test_wandb_run_config_holds_the_masked_config_plan_and_tags(make_cfg, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("NETRC", "/nonexistent")
    monkeypatch.setenv("LHT_TEST_API_KEY", SECRET)
    summary = train(make_cfg(["logger=wandb", *EPOCHS, *HPARAMS]))
    import wandb

    wandb.teardown()
    run_file = next((Path(summary["run_dir"]) / "wandb").glob("offline-run-*/run-*.wandb"))
    config = run_config(run_file)
    assert config["optimizer.lr"] == "0.003" and config["data.batch_size"] == "128"
    assert config["plan.epochs"] == str(summary["plan"]["epochs"])
    assert "provenance.version.torch" in config
    assert SECRET not in run_file.read_bytes().decode("latin-1")
    tags, _group = run_tags_and_group(run_file)
    assert tags == ["dev", "study"]


def test_printed_lines_reach_the_log_file_with_timestamps_and_the_console_unchanged(tmp_path, capsys):
    import re
    import sys

    from lightning_hydra_template.runs.output_log import printed_output_logged_to

    log = tmp_path / "train.log"
    with printed_output_logged_to(log):
        print("Run plan: full-batch")
        print("\rbar 50%\x1b[2K\rbar 100%")  # a live display's redraws: console only
        print("stopped by SIGINT; resume with: make train resume=x", file=sys.stderr)
        print("Summary", end="")  # an unfinished line is written when the run ends
    print("after the run")
    out, err = capsys.readouterr()
    assert out == "Run plan: full-batch\n\rbar 50%\x1b[2K\rbar 100%\nSummaryafter the run\n"
    assert err == "stopped by SIGINT; resume with: make train resume=x\n"
    stamp = r"\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}\]\[printed\]"
    lines = log.read_text().splitlines()
    assert len(lines) == 3
    assert re.fullmatch(stamp + r"\[INFO\] - Run plan: full-batch", lines[0])
    assert re.fullmatch(
        stamp + r"\[WARNING\] - stopped by SIGINT; resume with: make train resume=x", lines[1]
    )
    assert re.fullmatch(stamp + r"\[INFO\] - Summary", lines[2])


# example:digits
@pytest.mark.slow
def test_train_log_holds_the_plan_epoch_lines_and_summary(tmp_path, monkeypatch, capfd):
    from lightning_hydra_template.train import main
    from tests.conftest import run_main

    args = ["trainer.max_epochs=2", "callbacks.progress_bar.style=lines", "logger=none"]
    code, out, err = run_main(main, args, monkeypatch, capfd, tmp_path)  # the console entry point
    assert code == 0, err
    log = next((tmp_path / "logs").rglob("train.log")).read_text()
    for printed in ("Run plan:", "epoch 1/2 |", "epoch 2/2 |", "Summary", "  best val/acc"):
        assert f"[printed][INFO] - {printed}" in log
    assert "Run plan:" in out and "[printed]" not in out  # the console keeps plain lines


# /example:digits
