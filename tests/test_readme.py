"""The README stays true: every command it shows is run here verbatim (or by CI), and its outputs checked."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO_ROOT, clean_env

README = REPO_ROOT / "README.md"

# Commands shown in the README that this test does not run verbatim, and what runs them instead.
RUN_ELSEWHERE = {
    "make test": "CI runs it (.ci/run)",
    "make test-fast": "a subset of make test",
    "make lint": "make test runs it first",
    "make format": "rewrites files; make lint checks the same rules",
    "make search hparams_search=digits_mlp": "tests/test_search.py::test_two_workers_share_one_sqlite_study_without_duplicates (fewer trials)",  # example:digits
    "make train experiment=my_run": "test_own_experiment_recipe_composes below (the README's file, in a copy of configs/)",
    "make bench": "minutes of measurements; its quick mode runs in tests/test_perf.py",
    "make docs": "writes site/: tests/test_docs_site.py builds the same site, strict, into a temporary folder",
    "make serve": "serves until stopped: tests/test_deploy.py::test_service_answers_like_make_predict",
    "make new-project": "tests/test_new_project.py (two variants, in temporary directories)",  # template-only
}


def covered_elsewhere(command: str) -> str | None:
    return next((why for prefix, why in RUN_ELSEWHERE.items() if command.startswith(prefix)), None)


def shown_commands() -> list[str]:
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.S):
        for line in block.splitlines():
            command = line.split("  #")[0].strip()
            if command:
                commands.append(command)
    return commands


def shown_errors() -> list[tuple[str, str]]:
    return re.findall(r"^\$ (make .+)\n(error: .+)$", README.read_text(), flags=re.M)


def make(command: str, log_dir: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {**clean_env(), "LHT_LOG_DIR": str(log_dir)}
    return subprocess.run(
        command, shell=True, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def runs(log_dir: Path, task: str = "train") -> list[Path]:
    return sorted((log_dir / task / "runs").glob("*"), key=lambda p: p.stat().st_mtime)


def test_readme_starts_with_the_two_commands():
    assert shown_commands()[:2] == ["make train experiment=baseline", "make test"]


def test_every_shown_command_is_covered():
    for command in shown_commands():
        assert command.startswith(("make ", "python ", "lht-")) or covered_elsewhere(command), command
    for prefix in RUN_ELSEWHERE:  # no stale entries
        assert any(c.startswith(prefix) for c in shown_commands()), f"README no longer shows {prefix!r}"


def scenarios() -> list[list[str]]:
    """The runnable commands, each on its own, except that a command naming an earlier command's output
    (``<run>``, ``<date>_<time>_<id>``) runs after that command, in one scenario."""

    def makes_a_run(c: str) -> bool:
        return c.startswith("make train") and "MULTIRUN" not in c and "debug=" not in c

    def makes_a_sweep(c: str) -> bool:
        return (c.startswith("make sweep") or "MULTIRUN=1" in c) and "debug=" not in c

    groups: list[list[str]] = []
    for command in shown_commands():
        if covered_elsewhere(command):
            continue
        producer = makes_a_run if "<run>" in command else makes_a_sweep if "<date>" in command else None
        if producer is None:
            groups.append([command])
            continue
        next(g for g in reversed(groups) if producer(g[0])).append(command)
    return groups


@pytest.mark.slow
@pytest.mark.parametrize("commands", scenarios(), ids=lambda c: " && ".join(c))
def test_readme_commands_run_verbatim(tmp_path, commands):
    log_dir = tmp_path / "logs"
    for command in commands:
        if "<date>_<time>_<id>" in command:
            newest = max((log_dir / "train" / "multiruns").glob("*"), key=lambda p: p.stat().st_mtime)
            command = command.replace("logs/train/multiruns/<date>_<time>_<id>", str(newest))
        if "<run>" in command:
            latest = [r for r in runs(log_dir) if (r / "checkpoints" / "last.ckpt").exists()][-1]
            command = command.replace("logs/train/runs/<run>", str(latest))
        result = make(command, log_dir)
        assert result.returncode == 0, f"{command}\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
        check_outcome(command, result, log_dir)


def check_outcome(command: str, result: subprocess.CompletedProcess[str], log_dir: Path) -> None:
    """What each README command promises, checked on what it wrote."""
    if command.startswith("make predict"):
        table = runs(log_dir, "predict")[-1] / "predictions.csv"
        report = json.loads((runs(log_dir, "predict")[-1] / "predict.json").read_text())
        trained = json.loads((Path(report["ckpt_path"]).parents[1] / "summary.json").read_text())
        rows = len(table.read_text().splitlines()) - 1  # after the header, one row per test sample
        assert rows == report["samples"] == trained["plan"]["test_samples"] > 0
        return
    if command.startswith("make export"):
        exported = runs(log_dir, "export")[-1] / "model.onnx"
        assert exported.is_file() and exported.with_name("model.onnx.json").is_file()
        assert "parity on 64 test inputs" in result.stdout
        return
    if command.startswith("make eval"):
        report = json.loads((runs(log_dir, "eval")[-1] / "metrics.json").read_text())
        trained = json.loads((Path(report["ckpt_path"]).parents[1] / "summary.json").read_text())
        assert trained["test"] is not None and report["test"].keys() == trained["test"].keys()
        assert report["test"]["test/acc"] > 0.5  # example:digits
        return
    if command.startswith(("make sweep", "make report")) or (
        "MULTIRUN=1" in command and "debug=" not in command
    ):
        newest = max((log_dir / "train" / "multiruns").glob("*"), key=lambda p: p.stat().st_mtime)
        assert (newest / "report.md").exists() and (newest / "report.csv").exists()
        jobs = [p for p in newest.iterdir() if p.is_dir() and p.name.isdigit()]
        assert all((job / "summary.json").exists() for job in jobs)
        return
    if "resume=" in command:
        run = Path(command.split("resume=", 1)[1].split()[0])
        assert runs(log_dir) == [run], "a resumed run continues in its own directory"
        assert f"Resuming from {run.resolve() / 'checkpoints' / 'last.ckpt'}" in result.stdout
        epochs = int(re.search(r"trainer\.max_epochs=(\d+)", command).group(1))
        summary = json.loads((run / "summary.json").read_text())
        assert summary["plan"]["epochs"] == summary["epochs_run"] == epochs
        overrides = yaml.safe_load((run / ".hydra" / "overrides.yaml").read_text())
        assert f"trainer.max_epochs={epochs}" in overrides and "optimizer=sgd" in overrides, overrides
        return
    if "MULTIRUN=1" in command:
        sweeps = sorted((log_dir / "debug" / "multiruns").glob("*"))
        jobs = sorted(p for p in sweeps[-1].iterdir() if p.is_dir() and p.name.isdigit())
        optimizers = [
            yaml.safe_load((j / ".hydra" / "config.yaml").read_text())["optimizer"]["_target_"] for j in jobs
        ]
        assert optimizers == ["torch.optim.Adam", "torch.optim.SGD"]
        return
    task = "debug" if "debug=" in command else "train"
    run = runs(log_dir, task)[-1]
    overrides = yaml.safe_load((run / ".hydra" / "overrides.yaml").read_text())
    assert overrides == command.split()[2:], "make must forward every override, in order"
    summary = json.loads((run / "summary.json").read_text())
    assert "Run plan:" in result.stdout and "Summary" in result.stdout
    if command == "make train experiment=baseline":  # tests/test_train.py runs it short
        assert Path(summary["best_checkpoint"]).name.startswith("epoch_")
        assert summary["test"]["test/acc"] >= 0.97 and summary["best_value"] >= 0.95  # example:digits
    if "optimizer=sgd" in command:
        config = yaml.safe_load((run / ".hydra" / "config.yaml").read_text())
        assert config["optimizer"]["_target_"] == "torch.optim.SGD"
        assert summary["plan"]["batch_size"] == 32 and summary["plan"]["epochs"] == 3


@pytest.mark.slow
@pytest.mark.parametrize(("command", "expected"), shown_errors())
def test_readme_error_examples_are_what_users_see(tmp_path, command, expected):
    result = make(command, tmp_path / "logs", timeout=120)
    assert result.returncode != 0
    assert expected in result.stderr.splitlines()


def test_own_experiment_recipe_composes(tmp_path):
    """The README's own-experiment file, saved where it says, composes and sets what it claims."""
    import shutil

    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from lightning_hydra_template.config.compose import CONFIG_DIR
    from lightning_hydra_template.config.resolvers import register_resolvers
    from lightning_hydra_template.config.validation import validate_config

    text = README.read_text()
    path, command = "configs/experiment/my_run.yaml", "make train experiment=my_run"
    assert f"`{path}`" in text and command in shown_commands()
    (recipe,) = [b for b in re.findall(r"```yaml\n(.*?)```", text, flags=re.S) if "my_run" in b]
    configs = tmp_path / "configs"
    shutil.copytree(CONFIG_DIR, configs)
    (tmp_path / path).write_text(recipe)
    register_resolvers()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(configs), version_base="1.3"):
            cfg = compose(config_name="train", overrides=command.split()[2:])
    finally:
        GlobalHydra.instance().clear()
    validate_config(cfg)
    assert cfg.model.net._target_.endswith(".MLP")
    assert cfg.optimizer._target_ == "torch.optim.AdamW"
    assert cfg.scheduler._target_.endswith("CosineAnnealingLR")
    assert cfg.data.batch_size == 128 and cfg.trainer.max_epochs == 30
    assert "my_run" in cfg.tags
