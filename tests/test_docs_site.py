"""`make docs`: the site builds in strict mode, a broken link fails it, and the config reference it
generates follows configs/ (a new option or value shows up without anyone editing a page)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from tools.docs_site import GENERATED_PAGES, config_reference, read_config

from lightning_hydra_template.config.compose import CONFIG_DIR
from tests.conftest import REPO_ROOT

MKDOCS = Path(sys.executable).parent / "mkdocs"


def _leaves(node: dict, prefix: str = "") -> list[str]:
    keys = []
    for key, value in node.items():
        if isinstance(value, dict) and value:
            keys += _leaves(value, f"{prefix}{key}.")
        elif key != "defaults":
            keys.append(f"{prefix}{key}")
    return keys


def test_config_reference_lists_every_option_and_value():
    page = config_reference(CONFIG_DIR)
    yaml_files = [p for p in sorted(CONFIG_DIR.rglob("*.yaml")) if "local" not in p.parts]
    assert len(yaml_files) > 50
    for path in yaml_files:
        group = path.parent.relative_to(CONFIG_DIR).as_posix()
        if group != ".":
            assert f"### `{group}`" in page and f"| `{path.stem}` |" in page, path
        read = {v.key for v in read_config(path).values}
        loaded = yaml.safe_load(path.read_text()) or {}
        # a flow mapping ({type: int, low: 1}) is one value of the reference
        missing = {
            k for k in _leaves(loaded) if k not in read and not any(k.startswith(f"{r}.") for r in read)
        }
        assert not missing, f"{path.relative_to(CONFIG_DIR)}: {sorted(missing)}"
    assert "| `optimizer.lr` | `0.002` | learning rate, > 0 |" in page
    assert (
        "| `callbacks.early_stopping.patience` | `10` | validations without improvement before stopping |"
        in page
    )


def test_config_reference_follows_the_yaml_files(tmp_path):
    configs = tmp_path / "configs"
    shutil.copytree(CONFIG_DIR, configs)
    before = config_reference(configs)
    (configs / "optimizer" / "lion.yaml").write_text(
        "# Lion: sign of a momentum of gradients.\n_target_: my.Lion\nlr: 0.0001  # smaller than Adam's\n"
    )
    adam = configs / "optimizer" / "adam.yaml"
    adam.write_text(
        adam.read_text().replace("lr: 0.002            # learning rate, > 0", "lr: 0.003  # faster")
    )
    page = config_reference(configs)
    assert "| `lion` | Lion: sign of a momentum of gradients. |" in page
    assert "| `lion` | `optimizer._target_` | `my.Lion` |  |" in page
    assert "|  | `optimizer.lr` | `0.0001` | smaller than Adam's |" in page
    assert "| `optimizer.lr` | `0.003` | faster |" in page
    assert page.count("learning rate, > 0") == before.count("learning rate, > 0") - 1


def _site_sources(tmp_path: Path) -> Path:
    """A copy of what `make docs` reads: mkdocs.yml, docs/, the hooks and the README."""
    root = tmp_path / "project"
    root.mkdir()
    for name in ("docs", "tools"):
        shutil.copytree(REPO_ROOT / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("mkdocs.yml", "README.md"):
        shutil.copy(REPO_ROOT / name, root / name)
    return root


def _build(root: Path, site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(MKDOCS), "build", "--strict", "--site-dir", str(site)],
        cwd=root, capture_output=True, text=True, timeout=300, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )  # fmt: skip


@pytest.mark.slow
def test_site_builds_in_strict_mode_with_the_generated_pages(tmp_path):
    result = _build(_site_sources(tmp_path), tmp_path / "site")  # what make docs reads, copied
    assert result.returncode == 0, result.stderr
    assert "WARNING" not in result.stderr
    for page in ("getting_started", "concepts", "recipes", "troubleshooting", "benchmarks"):
        assert (tmp_path / "site" / page / "index.html").is_file(), page
    for page in GENERATED_PAGES:
        assert (tmp_path / "site" / page.removesuffix(".md") / "index.html").is_file(), page
    reference = (tmp_path / "site" / "config_reference" / "index.html").read_text()
    assert "callbacks.early_stopping.patience" in reference
    # links from docs/ to the project README point at its page on the site
    concepts = (tmp_path / "site" / "concepts" / "index.html").read_text()
    assert 'href="../project/#how-training-works-in-the-words-the-run-uses"' in concepts


@pytest.mark.slow
def test_a_broken_link_fails_the_build(tmp_path):
    """A missing page, a heading that is not there, and one missing in the project README: each one is
    reported, and the build stops."""
    root = _site_sources(tmp_path)
    recipes = root / "docs" / "recipes.md"
    broken = "[a](no_such_page.md), [b](configs.md#no-such-heading), [c](../README.md#no-readme-heading)"
    recipes.write_text(recipes.read_text() + f"\nSee {broken}.\n")
    result = _build(root, tmp_path / "site")
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "Aborted with 3 warnings in strict mode" in output, output
    for complaint in ("'no_such_page.md'", "'#no-such-heading'", "'#no-readme-heading'"):
        assert complaint in output, output
