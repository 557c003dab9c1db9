"""Every option of every config group composes, and what it describes can be built."""

from __future__ import annotations

import pytest
import yaml
from hydra.utils import instantiate

from lightning_hydra_template.config.compose import CONFIG_DIR
from lightning_hydra_template.config.errors import ConfigError
from lightning_hydra_template.config.overrides import group_options
from lightning_hydra_template.config.validation import validate_config
from lightning_hydra_template.runs.build import instantiate_group


def build_model(cfg):
    from lightning_hydra_template.runs.model_from_data import build_model as build

    datamodule = instantiate(cfg.data)
    datamodule.setup("fit")
    return build(cfg, datamodule)


def test_every_group_has_options():
    for group in (
        "data",
        "model",
        "model/net",
        "optimizer",
        "scheduler",
        "callbacks",
        "logger",
        "trainer",
        "debug",
        "experiment",
    ):
        assert group_options(group), f"configs/{group} has no options"


@pytest.mark.parametrize("option", group_options("optimizer"))
@pytest.mark.parametrize("scheduler", group_options("scheduler"))
def test_optimizer_and_scheduler_build(make_cfg, option, scheduler):
    cfg = make_cfg([f"optimizer={option}", f"scheduler={scheduler}"])
    validate_config(cfg)
    model = build_model(cfg)
    configured = model.configure_optimizers()
    optimizer = configured["optimizer"] if isinstance(configured, dict) else configured
    assert type(optimizer).__name__.lower() == option.replace("adamw", "adamw")
    if scheduler == "none":
        assert not isinstance(configured, dict)
    else:
        assert configured["lr_scheduler"]["interval"] == "epoch"
        if scheduler == "plateau":
            assert configured["lr_scheduler"]["monitor"] == cfg.monitor.metric


CLASSIFIER_NETS = ("cnn", "mlp")  # the other networks belong to other tasks and are built in their tests


def test_every_network_is_exercised_somewhere():
    tested_elsewhere = {"unet"}  # tests/test_task_units.py, tests/test_task_runs.py
    assert set(group_options("model/net")) == set(CLASSIFIER_NETS) | tested_elsewhere


# example:digits
@pytest.mark.parametrize("net", CLASSIFIER_NETS)
def test_networks_forward_digits(make_cfg, net):
    import torch

    cfg = make_cfg([f"model/net={net}"])
    model = build_model(cfg)
    datamodule = instantiate(cfg.data)
    datamodule.setup("fit")
    inputs, targets = next(iter(datamodule.train_dataloader()))
    assert model(inputs).shape == (inputs.shape[0], 10)
    assert isinstance(torch.nn.functional.cross_entropy(model(inputs), targets).item(), float)


# /example:digits


DOWNLOADED_DATA = {"mnist", "fashion_mnist"}  # tests/test_mnist.py serves them from 127.0.0.1


@pytest.mark.parametrize("option", sorted(set(group_options("data")) - DOWNLOADED_DATA))
def test_data_options_build(make_cfg, option, tmp_path):
    extra: list[str] = []
    # example:image_folder
    if option == "image_folder":  # needs files on disk
        from tests.image_data import tiny_image_folder

        extra = tiny_image_folder(tmp_path)
    # /example:image_folder
    cfg = make_cfg([f"data={option}", f"paths.data_dir={tmp_path}", *extra])
    datamodule = instantiate(cfg.data)
    datamodule.setup("fit")
    assert len(datamodule.train_dataloader()) > 0


@pytest.mark.parametrize("option", group_options("callbacks"))
def test_callback_sets_build(make_cfg, option):
    cfg = make_cfg([f"callbacks={option}"], tiny=False)
    callbacks = instantiate_group(cfg.get("callbacks"))
    expected = {key for key, node in (cfg.get("callbacks") or {}).items() if node is not None}
    assert len(callbacks) == len(expected)


def test_monitor_is_named_once_and_reused(make_cfg):
    cfg = make_cfg(["monitor.metric=val/loss", "monitor.mode=min", "scheduler=plateau"], tiny=False)
    assert cfg.callbacks.model_checkpoint.monitor == "val/loss"
    assert cfg.callbacks.early_stopping.monitor == "val/loss"
    assert cfg.callbacks.early_stopping.mode == "min"
    assert cfg.scheduler.monitor == "val/loss"
    assert cfg.scheduler.mode == "min"


@pytest.mark.parametrize("option", group_options("logger"))
def test_logger_options_build(make_cfg, option, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("NETRC", "/nonexistent")
    cfg = make_cfg([f"logger={option}"])
    loggers = instantiate_group(cfg.get("logger"))
    assert len(loggers) == len([n for n in (cfg.get("logger") or {}).values() if n is not None])


@pytest.mark.parametrize("option", group_options("trainer"))
def test_trainer_options_build_or_explain(make_cfg, option):
    from lightning_hydra_template.runs.environment import check_accelerator

    cfg = make_cfg([f"trainer={option}"], tiny=False)
    validate_config(cfg)
    if option == "slurm":  # needs a SLURM allocation's environment: tests/test_slurm.py fakes one
        return
    try:
        check_accelerator(cfg.trainer.accelerator)
    except ConfigError as err:  # this machine has no GPU: the error names the field and the fix
        assert cfg.trainer.accelerator in ("gpu", "mps")  # gpu, gpu_bf16, gpu_fp16, mps, ddp
        assert "trainer.accelerator" in str(err) and "trainer=cpu" in str(err)
        return
    trainer = instantiate(cfg.trainer, logger=False, enable_progress_bar=False)
    assert trainer.max_epochs == cfg.trainer.max_epochs
    if option == "ddp_cpu":
        assert trainer.world_size == 2


@pytest.mark.parametrize("option", group_options("debug"))
def test_debug_options_compose(make_cfg, option):
    cfg = make_cfg([f"debug={option}"], tiny=False)
    validate_config(cfg)
    assert cfg.task_name == "debug"


def test_every_yaml_value_is_documented():
    """Each user-settable scalar line in a group option carries a comment, here or in the group's default."""
    undocumented = []
    for path in sorted(CONFIG_DIR.rglob("*.yaml")):
        if "hydra" in path.parts or path.parent.name in ("experiment", "debug", "local", "hparams_search"):
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            stripped = line.strip()
            if (
                not stripped
                or stripped.startswith(("#", "-", "_target_", "defaults"))
                or stripped.endswith(":")
            ):
                continue
            if "${" in stripped and "#" not in stripped:
                continue  # wired to another value, documented where that value lives
            if "#" not in stripped and path.parent.name in ("trainer",) and path.stem != "default":
                continue  # the variants repeat keys documented in trainer/default.yaml
            if "#" not in stripped:
                undocumented.append(f"{path.relative_to(CONFIG_DIR)}:{number}: {stripped}")
    assert not undocumented, "undocumented config values:\n" + "\n".join(undocumented)


def _leaves(node, prefix=""):
    for key, value in node.items():
        if key == "defaults":
            continue
        if isinstance(value, dict):
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def _shipped_options():
    """(package, content) of every yaml under configs/ (the local/ folder is the user's)."""
    import yaml

    for path in sorted(CONFIG_DIR.rglob("*.yaml")):
        relative = path.relative_to(CONFIG_DIR)
        if relative.parts[0] == "local":
            continue
        text = path.read_text()
        package = (
            "" if len(relative.parts) == 1 or "@package _global_" in text else ".".join(relative.parts[:-1])
        )
        yield package, yaml.safe_load(text) or {}


# train.yaml's default data and model (the reference task's): entries `- data: <option>`, `- model: <option>`
TRAIN_DEFAULTS = {
    k: v
    for d in yaml.safe_load((CONFIG_DIR / "train.yaml").read_text())["defaults"]
    if isinstance(d, dict)
    for k, v in d.items()
}
DEFAULT_COMPONENTS = {
    section: yaml.safe_load((CONFIG_DIR / section / f"{TRAIN_DEFAULTS[section]}.yaml").read_text())[
        "_target_"
    ]
    for section in ("data", "model")
}
TYPED = ("callbacks.", "extras.", "trainer.", "scheduler.", "hydra.callbacks.", "seed", "deterministic")


def test_every_switch_and_callback_value_refuses_the_wrong_type():
    """Every true/false in a shipped config refuses "maybe"; every number of the callbacks, extras, trainer and
    scheduler refuses "x": before the run, naming the field (not a crash epochs later). Hydra's own settings
    are typed by Hydra; search spaces are checked by search.py."""
    from omegaconf import OmegaConf

    accepted, seen = [], set()
    for package, content in _shipped_options():
        option = OmegaConf.create({} if package else content)
        if package:
            OmegaConf.update(option, package, content, merge=False)
        for section, default_target in DEFAULT_COMPONENTS.items():  # data.*/model.* fields are checked by the
            if section in option and "_target_" not in option[section]:  # component a run composes with them
                option[section]["_target_"] = default_target
        for field, value in _leaves(content, f"{package}." if package else ""):
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            if not (isinstance(value, bool) or (number and field.startswith(TYPED))):
                continue
            if field.startswith(("search.", "hydra.")) and not field.startswith("hydra.callbacks."):
                continue
            seen.add(field)
            bad = "maybe" if isinstance(value, bool) else "x"
            broken = OmegaConf.create(OmegaConf.to_container(option))
            OmegaConf.update(broken, field, bad, merge=False)
            try:
                validate_config(broken)
            except ConfigError as err:
                assert err.field == field, (field, str(err))
                continue
            accepted.append(f"{field}={bad}")
    assert {"extras.print_config", "callbacks.early_stopping.patience", "scheduler.step_size"} <= seen
    assert not accepted, "accepted: " + " ".join(sorted(set(accepted)))
