"""The package's shape stays true: folders in layers, no import cycles, nothing importing a layer above it.

Every import counts, also those inside functions (a lazy import hides a cycle, it does not remove it).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = "lightning_hydra_template"
ROOT = Path(__file__).resolve().parents[1] / "src" / PACKAGE

# Lowest first. A module may import from its own layer and the layers before it, never from a later one.
# The entry points (train.py, eval.py, search.py, report.py, cli.py) form the top layer.
LAYERS = [
    "utils",
    "config",
    "distributed",
    "nets",
    "models",
    "data",
    "runs",
    "callbacks",
    "loggers",
    "deploy",
    "<entry>",
]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _layer(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "<entry>"
    if len(parts) == 2 and parts[1] not in LAYERS:  # a top-level module: an entry point
        return "<entry>"
    return parts[1]


def _imports(path: Path, module: str) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith(PACKAGE)}
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import
                base = module.split(".")[: len(module.split(".")) - node.level + (path.name == "__init__.py")]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target.startswith(PACKAGE):
                found.add(target)
                # ``from package import module`` imports that module
                found |= {
                    f"{target}.{a.name}"
                    for a in node.names
                    if (ROOT.parent / target.replace(".", "/") / f"{a.name}.py").is_file()
                }
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in ROOT.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        graph[name] = {t for t in _imports(path, name) if t in modules and t != name}
    return graph


GRAPH = _graph()


def test_every_folder_is_a_known_layer_with_a_one_line_docstring() -> None:
    folders = sorted(p.name for p in ROOT.iterdir() if p.is_dir() and p.name != "__pycache__")
    assert set(folders) <= set(LAYERS), f"new folder(s) {set(folders) - set(LAYERS)}: add them to LAYERS"
    for folder in folders:
        doc = ast.get_docstring(ast.parse((ROOT / folder / "__init__.py").read_text()))
        assert doc and "\n" not in doc.strip(), f"{folder}/__init__.py needs a one-line docstring"


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_no_module_imports_a_layer_above_it(module: str) -> None:
    rank = LAYERS.index(_layer(module))
    upward = sorted(t for t in GRAPH[module] if LAYERS.index(_layer(t)) > rank)
    assert not upward, f"{module} ({_layer(module)}) imports from a higher layer: {upward}"


def test_no_import_cycles() -> None:
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for target in sorted(GRAPH[node]):
            if state.get(target) == 1:
                cycle = path[path.index(target) :] + [target]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target)
        path.pop()
        state[node] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module)


def test_the_checker_sees_lazy_imports_and_cycles() -> None:
    """The walker finds imports inside functions, so the tests above cannot pass by not looking."""
    assert "lightning_hydra_template.callbacks.curves" in GRAPH[f"{PACKAGE}.train"]  # imported inside train()
    assert f"{PACKAGE}.utils.plotting" in GRAPH[f"{PACKAGE}.callbacks.curves"]  # imported inside a method


def test_utils_stays_small() -> None:
    modules = [p for p in (ROOT / "utils").glob("*.py") if p.name != "__init__.py"]
    assert len(modules) <= 3, f"utils/ holds {len(modules)} modules; give them a named home"
