"""docs/ stays true: the config reference lists exactly what configs/ holds, links resolve, the commands
the pages show compose, and the error examples are what users see."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from hydra.core.global_hydra import GlobalHydra
from tools.docs_site import GENERATED_PAGES

from lightning_hydra_template.config.compose import CONFIG_DIR
from lightning_hydra_template.config.validation import validate_config
from tests.conftest import REPO_ROOT
from tests.test_readme import make

DOCS = REPO_ROOT / "docs"
CONFIGS_DOC = DOCS / "configs.md"
TROUBLESHOOTING = DOCS / "troubleshooting.md"
PAGES = [REPO_ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
UNTRACKED_GROUPS = {"local"}  # configs/local/ is the user's own, ignored by git


def table_rows(text: str, header: tuple[str, ...]) -> list[list[str]]:
    """The body rows of every Markdown table whose first columns are ``header``, as lists of cells."""
    rows: list[list[str]] = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if tuple(cells[: len(header)]) != header:
            continue
        for body in lines[i + 2 :]:
            if not body.startswith("|"):
                break
            rows.append([c.strip() for c in re.split(r"(?<!\\)\|", body.strip().strip("|"))])
    return rows


def code_name(cell: str) -> str:
    found = re.fullmatch(r"`([^`]+)`", cell)
    assert found, f"expected one `name` in the cell {cell!r}"
    return found.group(1)


def config_groups() -> dict[str, set[str]]:
    """Every config group under configs/ (nested ones as ``model/net``) and its options."""
    groups: dict[str, set[str]] = {}
    for path in CONFIG_DIR.rglob("*.yaml"):
        group = path.parent.relative_to(CONFIG_DIR).as_posix()
        if group != "." and group.split("/")[0] not in UNTRACKED_GROUPS:
            groups.setdefault(group, set()).add(path.stem)
    return groups


def documented_groups(text: str) -> dict[str, set[str]]:
    groups: dict[str, set[str]] = {}
    for row in table_rows(text, ("group", "option")):
        groups.setdefault(code_name(row[0]), set()).add(code_name(row[1]))
    return groups


def test_config_reference_lists_every_group_and_option():
    documented, existing = documented_groups(CONFIGS_DOC.read_text()), config_groups()
    assert {"model/net", "model/loss", "hydra/launcher", "hparams_search", "experiment"} <= set(existing)
    for group, options in sorted(existing.items()):
        missing = options - documented.get(group, set())
        assert not missing, f"docs/configs.md does not list {group}: {sorted(missing)}"
    for group, options in sorted(documented.items()):
        unknown = options - existing.get(group, set())
        assert not unknown, f"docs/configs.md lists {group} options that configs/ lacks: {sorted(unknown)}"


def test_the_option_table_check_fails_on_a_missing_option():
    text = CONFIGS_DOC.read_text()
    row = "| `optimizer` | `rmsprop` |"
    assert row in text
    without = "\n".join(line for line in text.splitlines() if not line.startswith(row))
    assert documented_groups(without)["optimizer"] != config_groups()["optimizer"]


def top_level_values(config_name: str) -> set[str]:
    """The values an entry config sets itself: top-level keys, and one level down in mappings."""
    loaded = yaml.safe_load((CONFIG_DIR / f"{config_name}.yaml").read_text())
    names = set()
    for key, value in loaded.items():
        if key == "defaults":
            continue
        names |= {f"{key}.{sub}" for sub in value} if isinstance(value, dict) else {key}
    return names


def test_config_reference_lists_every_top_level_value():
    rows = table_rows(CONFIGS_DOC.read_text(), ("value", "in"))
    documented = {code_name(row[0]): {w.strip() for w in row[1].split(",")} for row in rows}
    for config_name in ("train", "eval"):
        values = top_level_values(config_name)
        assert values, config_name
        for value in values:
            assert config_name in documented.get(value, set()), (
                f"docs/configs.md: {value} ({config_name}.yaml)"
            )
        listed = {v for v, where in documented.items() if config_name in where}
        assert listed <= values, f"docs/configs.md lists {sorted(listed - values)} for {config_name}.yaml"


def _slug(heading: str) -> str:
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    prose = re.sub(r"^```.*?^```", "", page.read_text(), flags=re.S | re.M)  # not comments in code blocks
    return {_slug(h) for h in re.findall(r"^#+ (.+)$", prose, flags=re.M)}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(REPO_ROOT).as_posix())
def test_links_resolve(page: Path):
    for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
        if re.match(r"[a-z]+://", target):
            continue
        file_part, _, anchor = target.partition("#")
        if file_part in GENERATED_PAGES:  # made by the site build, which checks these links itself
            continue
        linked = (page.parent / file_part).resolve() if file_part else page
        assert linked.exists(), f"{page.name}: broken link {target}"
        if anchor:
            assert anchor in _anchors(linked), f"{page.name}: no heading for #{anchor} in {linked.name}"


def test_docs_index_lists_every_page():
    index = (DOCS / "README.md").read_text()
    for page in DOCS.glob("*.md"):
        if page.name != "README.md":
            assert f"]({page.name})" in index, f"docs/README.md does not link {page.name}"
    assert "](docs/README.md)" in (REPO_ROOT / "README.md").read_text()


def shown_doc_commands() -> list[str]:
    """``make train|sweep|eval|search`` lines of the docs' code blocks that name no placeholder."""
    commands = []
    for page in sorted(DOCS.glob("*.md")):
        for block in re.findall(r"```(?:text|bash)\n(.*?)```", page.read_text(), flags=re.S):
            for line in block.splitlines():
                command = line.split("  #")[0].strip()
                if re.match(r"make (train|sweep|eval|search) ", command) and "<" not in command:
                    commands.append(command)
    return commands


def _as_single_job(command: str) -> tuple[str, list[str]]:
    """The entry config and overrides of a command, with every swept value list cut to its first value."""
    words = command.split()
    config_name = "eval" if words[1] == "eval" else "train"
    overrides = []
    for word in words[2:]:
        if re.match(r"[A-Z][A-Z0-9_]*=", word):  # make's own settings (MULTIRUN=1)
            continue
        key, _, value = word.partition("=")
        if "," in value and not value.startswith(("[", "{", "'", '"')):
            value = value.split(",")[0]
        overrides.append(f"{key}={value}")
    return config_name, overrides


def test_docs_show_commands_to_check():
    commands = shown_doc_commands()
    assert any("hydra/launcher=slurm " in c for c in commands)
    assert any("make search" in c for c in commands)


def test_docs_commands_compose(tmp_path, monkeypatch):
    """Each command composes (swept values cut to their first one) and passes the early checks; files a
    command names as your own data (``data.path=...``) are stood in for by empty files."""
    from hydra import compose, initialize_config_dir

    from lightning_hydra_template.config.resolvers import register_resolvers

    monkeypatch.chdir(tmp_path)
    for command in shown_doc_commands():
        for word in command.split():
            if word.startswith("data.path="):
                (tmp_path / word.split("=", 1)[1]).touch()
    register_resolvers()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
            for command in shown_doc_commands():
                if "resume=" in command:  # needs a run directory; the README's resume command runs for real
                    continue
                config_name, overrides = _as_single_job(command)
                try:
                    cfg = compose(config_name=config_name, overrides=overrides, return_hydra_config=True)
                    validate_config(cfg)
                except Exception as err:
                    raise AssertionError(f"{command}: {err}") from err
                launcher = next((o.split("=")[1] for o in overrides if o.startswith("hydra/launcher=")), None)
                if launcher:
                    assert cfg.hydra.launcher._target_, command
    finally:
        GlobalHydra.instance().clear()


def shown_errors() -> list[tuple[str, str]]:
    return re.findall(r"^\$ (make .+)\n(error: .+)$", TROUBLESHOOTING.read_text(), flags=re.M)


def test_troubleshooting_shows_error_examples():
    assert len(shown_errors()) >= 5


@pytest.mark.slow
@pytest.mark.parametrize(("command", "expected"), shown_errors())
def test_troubleshooting_examples_are_what_users_see(tmp_path, command, expected):
    result = make(command, tmp_path / "logs", timeout=120)
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr.splitlines()
    assert "Traceback" not in result.stdout + result.stderr


def test_local_config_example_composes(tmp_path):
    """The configs/local/default.yaml example of docs/configs.md, saved there, changes what it says."""
    import shutil

    from hydra import compose, initialize_config_dir

    from lightning_hydra_template.config.resolvers import register_resolvers

    (example,) = [
        b for b in re.findall(r"```yaml\n(.*?)```", CONFIGS_DOC.read_text(), flags=re.S) if "/logger" in b
    ]
    configs = tmp_path / "configs"
    shutil.copytree(CONFIG_DIR, configs)
    (configs / "local").mkdir(exist_ok=True)
    (configs / "local" / "default.yaml").write_text(example)
    register_resolvers()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(configs), version_base="1.3"):
            cfg = compose(config_name="train", overrides=["experiment=baseline"])
    finally:
        GlobalHydra.instance().clear()
    assert list(cfg.logger) == ["wandb"] and cfg.logger.wandb.entity == "my-team"
