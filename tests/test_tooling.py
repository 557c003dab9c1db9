"""The tooling a project from this template inherits stays wired up: pre-commit runs what `make lint` runs,
the GitHub Actions workflow runs what .ci/run runs plus the docs build, with uv's cache keyed on uv.lock."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO_ROOT

PRE_COMMIT_CONFIG = REPO_ROOT / ".pre-commit-config.yaml"
WORKFLOW = REPO_ROOT / ".github" / "workflows" / "ci.yml"
VENV_BIN = Path(sys.executable).parent


def _tool_command(words: list[str]) -> str:
    """``ruff check`` / ``ruff format`` / ``mypy``: the tool's name and its subcommand, if it has one."""
    tool = Path(words[0]).name
    sub = [w for w in words[1:2] if not w.startswith("-")]
    return " ".join([tool, *sub])


def lint_commands(makefile: str) -> set[str]:
    """The tools ``make lint`` runs, from the Makefile's recipe."""
    recipe = re.search(r"^lint:.*\n((?:\t.*\n)+)", makefile, flags=re.M)
    assert recipe, "no lint target in the Makefile"
    return {
        _tool_command(shlex.split(line.replace("$(VENV)", ".venv"))) for line in recipe.group(1).splitlines()
    }


def hook_commands(config: dict[str, Any]) -> set[str]:
    return {_tool_command(shlex.split(hook["entry"])) for repo in config["repos"] for hook in repo["hooks"]}


def test_pre_commit_config_is_valid():
    result = subprocess.run(
        [sys.executable, "-m", "pre_commit", "validate-config", str(PRE_COMMIT_CONFIG)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_pre_commit_runs_what_make_lint_runs():
    config = yaml.safe_load(PRE_COMMIT_CONFIG.read_text())
    linted = lint_commands((REPO_ROOT / "Makefile").read_text())
    assert {"ruff check", "ruff format", "mypy"} <= linted
    assert hook_commands(config) == linted
    # offline: only local hooks, running the tools make setup installed
    for repo in config["repos"]:
        assert repo["repo"] == "local"
        for hook in repo["hooks"]:
            assert hook["language"] == "system" and hook["entry"].startswith(".venv/bin/"), hook["id"]
    # the same folders as make lint's ruff commands
    lint_dirs = set(re.search(r"ruff check (.+)", (REPO_ROOT / "Makefile").read_text()).group(1).split())
    for hook in config["repos"][0]["hooks"]:
        if hook["entry"].split()[0].endswith("ruff"):
            assert set(re.fullmatch(r"\^\((.+)\)/", hook["files"]).group(1).split("|")) == lint_dirs


def test_the_lint_comparison_fails_on_a_missing_hook():
    config = yaml.safe_load(PRE_COMMIT_CONFIG.read_text())
    config["repos"][0]["hooks"] = [h for h in config["repos"][0]["hooks"] if h["id"] != "mypy"]
    assert hook_commands(config) != lint_commands((REPO_ROOT / "Makefile").read_text())


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_pre_commit_hooks_run_offline_and_catch_a_type_error(tmp_path):
    """``pre-commit run --all-files`` in a fresh repository with this config: a type error fails the mypy
    hook; the fixed file passes every hook. Nothing is downloaded (local hooks, this .venv)."""
    repo = tmp_path / "repo"
    (repo / "src").mkdir(parents=True)
    shutil.copy(PRE_COMMIT_CONFIG, repo / ".pre-commit-config.yaml")
    shutil.copy(REPO_ROOT / "pyproject.toml", repo / "pyproject.toml")
    (repo / ".venv").symlink_to(VENV_BIN.parent)
    module = repo / "src" / "arith.py"
    module.write_text("def double(n: int) -> int:\n    return n * 2\n\n\nhalf: int = double(3) / 2\n")
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "cache"), "GIT_CONFIG_GLOBAL": os.devnull}
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True, env=env)
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True, env=env)

    def run_hooks() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(VENV_BIN / "pre-commit"), "run", "--all-files"],
            cwd=repo, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip

    failed = run_hooks()
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert re.search(r"^mypy\.+Failed", failed.stdout, flags=re.M), failed.stdout
    assert "[assignment]" in failed.stdout
    module.write_text("def double(n: int) -> int:\n    return n * 2\n\n\nhalf: float = double(3) / 2\n")
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True, env=env)
    passed = run_hooks()
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert len(re.findall(r"\.+Passed$", passed.stdout, flags=re.M)) == 3, passed.stdout


def workflow() -> dict[str, Any]:
    loaded = yaml.safe_load(WORKFLOW.read_text())
    assert isinstance(loaded, dict) and loaded.get("jobs"), "ci.yml: no jobs"
    return loaded


def steps(loaded: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in loaded["jobs"].values() for step in job["steps"]]


def run_commands(loaded: dict[str, Any]) -> list[str]:
    return [
        line.strip() for step in steps(loaded) for line in step.get("run", "").splitlines() if line.strip()
    ]


def ci_run_commands() -> list[str]:
    """The make commands of .ci/run, the script CI runs."""
    return [
        line.strip()
        for line in (REPO_ROOT / ".ci" / "run").read_text().splitlines()
        if line.startswith("make ")
    ]


def test_workflow_runs_what_ci_run_runs_and_builds_the_docs():
    loaded = workflow()
    assert True in loaded or "on" in loaded  # YAML 1.1 reads the key `on` as true
    (job,) = loaded["jobs"].values()
    assert job["runs-on"].startswith("ubuntu")
    assert steps(loaded)[0]["uses"].startswith("actions/checkout@")
    commands = run_commands(loaded)
    assert ci_run_commands() == ["make test"]
    assert commands == [*ci_run_commands(), "make docs"]


def test_workflow_caches_uv_keyed_on_the_lock_file_and_pins_no_python():
    loaded = workflow()
    (setup_uv,) = [s for s in steps(loaded) if s.get("uses", "").startswith("astral-sh/setup-uv@")]
    assert setup_uv["with"]["enable-cache"] is True
    assert setup_uv["with"]["cache-dependency-glob"] == "uv.lock"
    # the runner's Python serves (requires-python >= 3.10): nothing for uv to download
    for step in steps(loaded):
        assert "setup-python" not in step.get("uses", "")
        assert "python-version" not in step.get("with", {})
    assert "UV_PYTHON" not in WORKFLOW.read_text()
    assert not (REPO_ROOT / ".python-version").exists()
