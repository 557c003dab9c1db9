"""Every private Lightning / torch / torchmetrics name the package relies on is listed in
docs/lightning_internals.md, and every name listed there is still used.

Found by reading src/ (no training): private names imported (``from lightning... import _X``), private
attributes read on other objects (``logger._experiment``), private names passed to getattr/setattr,
the loop objects that became private classes in Lightning 2.0 (``trainer.fit_loop``), and in subclasses
of library classes, private attributes or methods that the library class defines (``self._launcher``,
``def _configure_launcher``).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re

import pytest

from tests.conftest import REPO_ROOT

SRC = REPO_ROOT / "src" / "lightning_hydra_template"
DOC = REPO_ROOT / "docs" / "lightning_internals.md"
PACKAGE = "lightning_hydra_template"
LIBRARIES = (
    "lightning",
    "pytorch_lightning",
    "lightning_fabric",
    "lightning_utilities",
    "torch",
    "torchmetrics",
)
# public attributes whose objects are private classes since Lightning 2.0 (_FitLoop, _TrainingEpochLoop, ...)
LOOP_ATTRIBUTES = {"fit_loop", "validate_loop", "test_loop", "predict_loop", "epoch_loop"}


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _from_library(module: str) -> bool:
    return module.split(".")[0] in LIBRARIES


def _library_classes(cls: type) -> list[type]:
    return [c for c in cls.__mro__ if _from_library(c.__module__) and c is not object]


def _defined_by(name: str, classes: list[type]) -> bool:
    """Whether a library class defines ``name``: as a class attribute or method, or as ``self.<name>``."""
    for cls in classes:
        if name in vars(cls):
            return True
        try:
            source = inspect.getsource(cls)
        except (OSError, TypeError):
            continue
        if re.search(rf"\bself\.{re.escape(name)}\b", source):
            return True
    return False


class _Finder(ast.NodeVisitor):
    """Collects the private library names one module uses."""

    def __init__(self, tree: ast.Module, module: str) -> None:
        self.module = module
        self.found: set[str] = set()
        self.imported: dict[str, tuple[str, str | None]] = {}  # local name -> (module, attribute)
        for node in ast.walk(tree):  # imports anywhere in the file, function-level ones included
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    self.imported[alias.asname or alias.name] = (node.module, alias.name)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    local = alias.asname or alias.name.split(".")[0]
                    self.imported[local] = (alias.asname and alias.name or local, None)
        self.visit(tree)

    # --- imports -----------------------------------------------------------------------------------
    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.module and node.level == 0 and _from_library(node.module):
            self.found.update(part for part in node.module.split(".") if _private(part))
            self.found.update(alias.name for alias in node.names if _private(alias.name))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if _from_library(alias.name):
                self.found.update(part for part in alias.name.split(".") if _private(part))

    # --- attributes on other objects ------------------------------------------------------------------
    def visit_Attribute(self, node: ast.Attribute) -> None:
        on_self = isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")  # see visit_ClassDef
        if node.attr in LOOP_ATTRIBUTES or (_private(node.attr) and not on_self):
            self.found.add(node.attr)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        reflective = isinstance(node.func, ast.Name) and node.func.id in (
            "getattr",
            "setattr",
            "hasattr",
            "delattr",
        )
        name = node.args[1] if reflective and len(node.args) > 1 else None
        if isinstance(name, ast.Constant) and isinstance(name.value, str) and _private(name.value):
            self.found.add(name.value)
        self.generic_visit(node)

    # --- subclasses of library classes --------------------------------------------------------------
    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        library = [c for base in node.bases for c in _library_classes(self._resolve(base))]
        if library:
            names = {
                item.name for item in node.body if isinstance(item, ast.FunctionDef) and _private(item.name)
            }
            for item in node.body:
                if isinstance(item, ast.FunctionDef):
                    names.update(
                        sub.attr
                        for sub in ast.walk(item)
                        if isinstance(sub, ast.Attribute)
                        and isinstance(sub.value, ast.Name)
                        and sub.value.id == "self"
                        and _private(sub.attr)
                    )
            self.found.update(name for name in names if _defined_by(name, library))
        self.generic_visit(node)

    def _resolve(self, base: ast.expr) -> type:
        """The class a base-class expression names, through this module's imports or definitions."""
        parts: list[str] = []
        while isinstance(base, ast.Attribute):
            parts.insert(0, base.attr)
            base = base.value
        if not isinstance(base, ast.Name):
            return object
        if base.id in self.imported:
            module, attribute = self.imported[base.id]
            try:
                obj = importlib.import_module(module)
            except ImportError:
                return object
            if attribute is not None:
                obj = getattr(obj, attribute, None) or importlib.import_module(f"{module}.{attribute}")
        else:
            obj = importlib.import_module(self.module)
            parts.insert(0, base.id)
        for part in parts:
            obj = getattr(obj, part, None)
        return obj if isinstance(obj, type) else object


def used_private_names(source: str, module: str) -> set[str]:
    return _Finder(ast.parse(source), module).found


def package_usages() -> set[tuple[str, str]]:
    usages = set()
    for path in sorted(SRC.rglob("*.py")):
        relative = path.relative_to(SRC)
        module = ".".join([PACKAGE, *relative.with_suffix("").parts]).removesuffix(".__init__")
        usages.update((relative.as_posix(), name) for name in used_private_names(path.read_text(), module))
    return usages


def documented() -> dict[str, set[str]]:
    """``{file: names}`` from the rows of the first table (the next section's tables are history): the
    first column is the file, the second holds the names in backticks (a dotted chain such as
    ``trainer.fit_loop.epoch_loop`` names each part)."""
    rows: dict[str, set[str]] = {}
    table = DOC.read_text().split("\n## ", 1)[0]
    for line in table.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) < 4 or not cells[0].startswith("`"):
            continue
        file = cells[0].strip("`")
        names = {
            part for token in re.findall(r"`([^`]+)`", cells[1]) for part in re.split(r"[.()\s,]+", token)
        }
        rows.setdefault(file, set()).update(n for n in names if _private(n) or n in LOOP_ATTRIBUTES)
    return rows


def test_every_private_name_in_use_is_listed_and_every_listed_one_is_used():
    used = package_usages()
    listed = {(file, name) for file, names in documented().items() for name in names}
    assert used, "the scan found nothing: the finder is broken"
    unlisted = sorted(used - listed)
    assert not unlisted, f"private library names used but not listed in {DOC.name}: {unlisted}"
    stale = sorted(listed - used)
    assert not stale, f"listed in {DOC.name} but no longer used (remove the row): {stale}"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from lightning.pytorch.strategies.launchers.multiprocessing import _MultiProcessingLauncher", {"_MultiProcessingLauncher"}),
        ("import torch._dynamo", {"_dynamo"}),
        ("def f(logger):\n    return logger._experiment", {"_experiment"}),
        ("def f(trainer):\n    return trainer.fit_loop.epoch_loop.batch_progress", {"fit_loop", "epoch_loop"}),
        ("def f(module):\n    return getattr(module, '_non_persistent_buffers_set', ())", {"_non_persistent_buffers_set"}),
        (
            "from lightning.pytorch.strategies import DDPStrategy\n"
            "class S(DDPStrategy):\n"
            "    def _configure_launcher(self):\n"
            "        self._launcher = self._start_method\n"
            "    def _own_helper(self):\n"
            "        self._own_state = 1\n",
            {"_configure_launcher", "_launcher", "_start_method"},
        ),
        ("from lightning.pytorch.callbacks import Callback\nclass C(Callback):\n    def _mine(self):\n        return self._count", set()),
        ("from lightning.pytorch.loggers import CSVLogger\nlogger = CSVLogger('.')\nok = logger.log_dir", set()),
    ],
)  # fmt: skip
def test_the_finder_tells_library_private_names_from_the_packages_own(source, expected):
    assert used_private_names(source, f"{PACKAGE}.config") == expected
