"""mkdocs hooks for `make docs` (mkdocs.yml names this file), and the generated config reference.

The site adds two pages that exist in no file, so they cannot go stale:

- ``config_reference.md``: every option of every config group with its values and their comments, read
  from the yaml files at build time;
- ``project.md``: the project README, the front page on GitHub; links to it from docs/ (``../README.md``)
  and its links into docs/ (``docs/<page>.md``) are rewritten to stay inside the site.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
REFERENCE_PAGE = "config_reference.md"
README_PAGE = "project.md"
GENERATED_PAGES = (REFERENCE_PAGE, README_PAGE)

_KEY = re.compile(r"^(?P<indent> *)(?P<key>[\w.$/{}@-]+):(?: +(?P<value>.*))?$")
_ITEM = re.compile(r"^(?P<indent> *)- +(?P<item>.*)$")


def _split_comment(line: str) -> tuple[str, str]:
    """``(code, comment)`` of a yaml line; a ``#`` inside quotes is not a comment."""
    quote = None
    for i, char in enumerate(line):
        if char in "'\"" and quote in (None, char):
            quote = None if quote else char
        elif char == "#" and quote is None and (i == 0 or line[i - 1] in " \t"):
            return line[:i].rstrip(), line[i + 1 :].strip()
    return line.rstrip(), ""


@dataclass
class Value:
    key: str  # dotted, from the top of the file
    value: str  # as written in the file
    comment: str


@dataclass
class ConfigFile:
    path: Path
    description: str = ""  # the comment lines the file starts with
    package: str | None = None  # from a `# @package` line
    defaults: list[str] = field(default_factory=list)
    values: list[Value] = field(default_factory=list)


def read_config(path: Path) -> ConfigFile:
    """The values of one yaml config with their comments (inline, or the comment line just above)."""
    config = ConfigFile(path)
    header, in_header, pending = [], True, ""
    stack: list[tuple[int, str]] = []  # (indent, key) of the mappings around the current line
    for raw in path.read_text().splitlines():
        code, comment = _split_comment(raw)
        if not code.strip():
            if comment.startswith("@package"):
                config.package = comment.split(None, 1)[1].strip()
            elif comment and in_header:
                header.append(comment)
            elif comment:
                pending = f"{pending} {comment}".strip()
            else:
                in_header, pending = in_header and not header, ""
            continue
        in_header = False
        item = _ITEM.match(code)
        if item:
            if stack and stack[-1][1] == "defaults":
                config.defaults.append(item["item"] + (f"  ({comment})" if comment else ""))
            elif config.values and config.values[-1].key == ".".join(k for _, k in stack):
                listed = config.values[-1]
                listed.value = (
                    f"{listed.value[:-1]}, {item['item']}]" if listed.value else f"[{item['item']}]"
                )
                listed.comment = listed.comment or comment
            pending = ""
            continue
        match = _KEY.match(code)
        if not match:
            continue
        indent = len(match["indent"])
        while stack and stack[-1][0] >= indent:
            stack.pop()
        key = ".".join([*(k for _, k in stack), match["key"]])
        value = (match["value"] or "").strip()
        if match["key"] != "defaults":
            config.values.append(Value(key, value, comment or pending))
        stack.append((indent, match["key"]))
        pending = ""
    config.description = " ".join(header)
    config.values = [v for v in config.values if v.value or v.comment and not _has_children(config, v.key)]
    return config


def _has_children(config: ConfigFile, key: str) -> bool:
    return any(v.key.startswith(f"{key}.") for v in config.values)


def _package_prefix(group: str, package: str | None) -> str:
    """Where the option's keys land in the composed config, as an override names them."""
    if package in (None, "_group_"):
        return group.replace("/", ".") + "."
    if package == "_global_":
        return ""
    return package.replace("_global_.", "").replace("_group_", group.replace("/", ".")) + "."


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _code(text: str) -> str:
    if not text:
        return ""
    ticks = "``" if "`" in text else "`"
    return _cell(f"{ticks}{text}{ticks}" if ticks == "`" else f"`` {text} ``")


def _values_table(rows: list[tuple[str, str, Value]]) -> list[str]:
    lines = ["| option | key | value | what it sets |", "|---|---|---|---|"]
    shown = None
    for option, prefix, value in rows:
        name = _code(option) if option != shown else ""
        shown = option
        lines.append(
            f"| {name} | {_code(prefix + value.key)} | {_code(value.value)} | {_cell(value.comment)} |"
        )
    return lines


def _groups(config_dir: Path) -> dict[str, list[Path]]:
    groups: dict[str, list[Path]] = {}
    for path in sorted(config_dir.rglob("*.yaml")):
        group = path.parent.relative_to(config_dir).as_posix()
        if group != "." and group.split("/")[0] != "local":
            groups.setdefault(group, []).append(path)
    return groups


def config_reference(config_dir: Path) -> str:
    """The config reference page: the entry configs, then one table per group, from ``config_dir``."""
    lines = [
        "# Config reference",
        "",
        "Generated from `configs/` each time the site is built: every option of every config group, each",
        "value it sets and the comment it carries in the yaml file. For what the groups are for, how",
        "overrides work and how to add your own options, read the [configs guide](configs.md).",
        "",
        "An override names a value by its key: `make train optimizer.lr=0.01`; a group option by its",
        "group: `make train optimizer=sgd`.",
        "",
        "## Entry configs",
    ]
    for path in sorted(config_dir.glob("*.yaml")):
        config = read_config(path)
        lines += ["", f"### `{path.name}`", "", config.description, ""]
        if config.defaults:
            lines += ["Groups it composes, in order:", ""]
            lines += [
                f"- `{_cell(entry.split('  (')[0])}`" + _defaults_note(entry) for entry in config.defaults
            ]
            lines.append("")
        if config.values:
            lines += _values_table([(path.stem, "", value) for value in config.values])
    lines += ["", "## Groups"]
    for group, paths in _groups(config_dir).items():
        rows, options = [], []
        for path in paths:
            config = read_config(path)
            options.append(f"| {_code(path.stem)} | {_cell(config.description)} |")
            prefix = _package_prefix(group, config.package)
            rows += [(path.stem, prefix, value) for value in config.values]
        lines += ["", f"### `{group}`", "", f"Choose one with `{group}=<option>`.", ""]
        lines += ["| option | what it is |", "|---|---|", *options, ""]
        if rows:
            lines += _values_table(rows)
    return "\n".join(lines) + "\n"


def _defaults_note(entry: str) -> str:
    _, _, note = entry.partition("  (")
    return f": {note[:-1]}" if note else ""


def _config_dir() -> Path:
    from lightning_hydra_template.config.compose import CONFIG_DIR

    return CONFIG_DIR


def project_readme(text: str) -> str:
    """The project README as a page of the site: its links into docs/ point at the site's pages."""
    return re.sub(r"\]\(docs/", "](", text)


# --- mkdocs hooks -----------------------------------------------------------------------------------------
def on_files(files: Any, config: Any) -> Any:
    from mkdocs.structure.files import File

    pages = {
        REFERENCE_PAGE: config_reference(_config_dir()),
        README_PAGE: project_readme((REPO_ROOT / "README.md").read_text()),
    }
    for name, content in pages.items():
        files.append(File.generated(config, name, content=content))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Pages of docs/ link the project README as ``../README.md``; on the site that is project.md."""
    return re.sub(r"\]\(\.\./README\.md", f"]({README_PAGE}", markdown)
