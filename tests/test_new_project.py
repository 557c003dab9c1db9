"""make new-project: a renamed project with the examples asked for, no stale template names, its own git
history, configs that compose; template updates merge in; the heavy checks run the project's own tests.

Every project here is generated from a copy of this working tree committed in a temporary repository (so
uncommitted edits are tested too), never from the checkout itself.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from importlib.util import module_from_spec, spec_from_file_location
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO_ROOT, clean_env, run_module


def load_generator(root: Path = REPO_ROOT):
    """template/new_project.py of ``root`` (this checkout, or a committed copy of it) as a module."""
    spec = spec_from_file_location("new_project", root / "template" / "new_project.py")
    module = module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MANIFEST = load_generator().manifest()
EXAMPLES = list(MANIFEST["examples"])
STALE = re.compile(r"lightning[_-]hydra[_-]template|(?<![A-Za-z0-9])lht[-_]|LHT_", re.IGNORECASE)
MARKERS = re.compile(r"(?:<!--|#)\s*/?(?:example:[a-z_]+|template-only)\s*(?:-->)?\s*$", re.MULTILINE)
PROVENANCE = ".template.json"  # the one file that names the template (its package, to rename checkpoints)
VARIANTS = {
    "all": {"name": "Full Kit", "package": "full_kit", "examples": ",".join(EXAMPLES)},
    "minimal": {  # one example, not the template's reference task: it becomes the project's
        "name": "My Project",
        "package": "my_project",
        "examples": "regression",
        "author": "Ada <ada@example.org>",
    },
}
UV = shutil.which("uv") or str(Path.home() / ".local/bin/uv")


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


def git_env() -> dict[str, str]:
    identity = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }
    return {**clean_env(), **identity}


def copy_of_template(dest: Path) -> Path:
    """This working tree's files (tracked and untracked, not ignored), committed in a new repository."""
    listed = git("ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=REPO_ROOT).split("\0")
    for name in filter(None, listed):
        source = REPO_ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    commit_all(dest, "A", init=True)
    return dest


def commit_all(repo: Path, message: str, init: bool = False) -> None:
    env = git_env()
    if init:
        subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True, env=env)
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True, env=env)
    subprocess.run(["git", "commit", "-qm", message], cwd=repo, check=True, env=env)


def new_project(template: Path, dest: Path, **answers: str) -> subprocess.CompletedProcess[str]:
    args = [f"--{k}={v}" for k, v in answers.items()]
    return subprocess.run(
        [sys.executable, str(template / "template" / "new_project.py"), "create", f"--dest={dest}", *args],
        capture_output=True,
        text=True,
        env=git_env(),
    )


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_of_template(tmp_path_factory.mktemp("template"))


@pytest.fixture(scope="module")
def generated(template: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    projects = {}
    for variant, answers in VARIANTS.items():
        dest = tmp_path_factory.mktemp("projects") / variant
        done = new_project(template, dest, **answers)
        assert done.returncode == 0, done.stderr
        projects[variant] = dest
    return projects


# What tools make inside a project, not what the generator writes (the slow tests sync and run the projects).
MADE_BY_TOOLS = {".git", ".venv", ".mypy_cache", ".ruff_cache", ".pytest_cache", "logs"}


def project_files(project: Path) -> list[Path]:
    """The files the generator wrote into ``project``."""
    return sorted(
        p
        for p in project.rglob("*")
        if p.is_file()
        and p.relative_to(project).parts[0] not in MADE_BY_TOOLS
        and "__pycache__" not in p.relative_to(project).parts
    )


def stale_names(project: Path) -> list[str]:
    """Every file name and text line of ``project`` that still names the template."""
    hits = []
    for path in project_files(project):
        relative = path.relative_to(project).as_posix()
        if STALE.search(relative):
            hits.append(relative)
        if relative == PROVENANCE:
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        hits += [
            f"{relative}:{n}: {line.strip()}"
            for n, line in enumerate(text.splitlines(), 1)
            if STALE.search(line)
        ]
    return hits


@pytest.mark.parametrize("variant", VARIANTS)
def test_no_stale_template_names(generated, variant):
    assert stale_names(generated[variant]) == []


def test_the_stale_name_check_finds_a_leftover(generated, tmp_path):
    project = tmp_path / "p"
    shutil.copytree(
        generated["minimal"], project, ignore=shutil.ignore_patterns(*MADE_BY_TOOLS, "__pycache__")
    )
    (project / "docs" / "extra.md").write_text("see the LHT_LOG_DIR variable\n")
    (project / "src" / "lightning_hydra_template.txt").write_text("\n")
    assert stale_names(project) == [
        "docs/extra.md:1: see the LHT_LOG_DIR variable",
        "src/lightning_hydra_template.txt",
    ]


@pytest.mark.parametrize("variant", VARIANTS)
def test_renamed_package_scripts_and_metadata(generated, variant):
    project, answers = generated[variant], VARIANTS[variant]
    package, dist = answers["package"], answers["package"].replace("_", "-")
    meta = (project / "pyproject.toml").read_text()
    assert f'name = "{dist}"\n' in meta and f'{dist}-train = "{package}.train:main"' in meta
    assert f'packages = ["src/{package}"]' in meta and f'"configs" = "{package}/configs"' in meta
    assert (project / "src" / package / "train.py").is_file()
    assert (project / "README.md").read_text().startswith(f"# {answers['name']}\n")
    assert (
        f'name = "{dist}"\nversion = "0.1.0"\nsource = {{ editable = "." }}'
        in (project / "uv.lock").read_text()
    )
    if "author" in answers:
        assert 'authors = [{ name = "Ada", email = "ada@example.org" }]' in meta
    makefile = (project / "Makefile").read_text()
    assert f"-m {package}.train" in makefile and "update-from-template:" in makefile
    assert "new-project:" not in makefile and not (project / "template").exists()
    assert not (project / "tests" / "test_new_project.py").exists()
    assert f"{package.upper()}_LOG_DIR" in (project / "configs" / "paths" / "default.yaml").read_text()
    for path in project_files(project):
        if path.suffix in (".py", ".md", ".yaml", ".toml") or path.name == "Makefile":
            assert not MARKERS.search(path.read_text()), path


def test_examples_not_chosen_are_dropped(generated):
    for variant, project in generated.items():
        kept = VARIANTS[variant]["examples"].split(",")
        for example, spec in MANIFEST["examples"].items():
            for pattern in spec["paths"]:
                renamed = pattern.replace("lightning_hydra_template", VARIANTS[variant]["package"])
                present = list(project.glob(renamed))
                original = list(REPO_ROOT.glob(pattern))
                if example in kept:
                    assert len(present) == len(original), (variant, pattern)
                else:
                    assert not present, (variant, pattern)
    assert "experiment=segmentation" not in (generated["minimal"] / "docs" / "examples.md").read_text()
    assert "experiment=segmentation" in (generated["all"] / "docs" / "examples.md").read_text()
    assert "hparams_search=digits_mlp" not in (generated["minimal"] / "README.md").read_text()
    assert "hparams_search=digits_mlp" in (generated["all"] / "README.md").read_text()


def project_python_env(project: Path) -> dict[str, str]:
    """The template's environment importing the project's package (no venv of the project's own)."""
    return {**clean_env(), "PYTHONPATH": f"{project / 'src'}{os.pathsep}{project}"}


def config_target(path: str, package: str) -> str:
    """The ``_target_`` of this template's ``configs/<path>.yaml``, under the project's package name."""
    target = yaml.safe_load((REPO_ROOT / "configs" / f"{path}.yaml").read_text())["_target_"]
    return target.replace("lightning_hydra_template", package)


COMPOSE_ALL = """
import json, sys
from pathlib import Path
from {package}.config.compose import CONFIG_DIR, compose_run_config
from {package}.config.overrides import group_options
targets, defaults = set(), compose_run_config([])
def collect(node):
    if isinstance(node, dict):
        targets.update(v for k, v in node.items() if k == "_target_" and isinstance(v, str))
        for v in node.values(): collect(v)
    elif isinstance(node, list):
        for v in node: collect(v)
from omegaconf import OmegaConf
for group in ("experiment", "data", "model"):
    for option in group_options(group):
        collect(OmegaConf.to_container(compose_run_config([f"{{group}}={{option}}"]), resolve=False))
print(json.dumps({{"config_dir": str(CONFIG_DIR), "targets": sorted(targets), "data": defaults.data._target_,
                  "experiments": group_options("experiment"), "torch": "torch" in sys.modules}}))
"""


@pytest.mark.parametrize("variant", VARIANTS)
def test_generated_configs_compose_and_name_existing_code(generated, variant):
    """Every experiment, data and model option of the project composes with the project's own package,
    without importing torch; every ``_target_`` of the package names a module the project has."""
    project, package = generated[variant], VARIANTS[variant]["package"]
    done = subprocess.run(
        [sys.executable, "-c", COMPOSE_ALL.format(package=package)],
        cwd=project,
        env=project_python_env(project),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout)
    assert found["config_dir"] == str(project / "configs") and not found["torch"]
    reference = MANIFEST["examples"][VARIANTS[variant]["examples"].split(",")[0]]["reference"]
    assert "baseline" in found["experiments"]
    assert found["data"] == config_target(f"data/{reference['data']}", package)
    own = [t for t in found["targets"] if t.startswith(f"{package}.")]
    assert own and all(STALE.search(t) is None for t in found["targets"])
    for target in own:
        module = target.rsplit(".", 1)[0].replace(".", "/")
        assert (project / "src" / f"{module}.py").is_file(), target


REFERENCE_RUN = """
import json
from {package}.config.compose import compose_run_config
out = {{}}
for name, overrides in (("default", []), ("baseline", ["experiment=baseline"])):
    cfg = compose_run_config(overrides)
    out[name] = {{"data": cfg.data._target_, "model": cfg.model._target_, "monitor": dict(cfg.monitor),
                 "net": cfg.model.net._target_}}
print(json.dumps(out))
"""


def single_example_project(template: Path, example: str, dest: Path) -> tuple[Path, str]:
    """The files a project of ``example`` alone gets (the generator's ``generate``: no lock, no ruff)."""
    generator = load_generator(template)
    package = f"only_{example}"
    answers = generator.check_answers({"name": f"Only {example}", "package": package, "examples": example})
    generator.generate(answers, generator.template_commit("HEAD"), dest)
    return dest, package


@pytest.mark.parametrize("example", EXAMPLES)
def test_each_example_alone_becomes_the_reference_task(template, tmp_path, example):
    """With one example kept, its data, model and monitored metric are the defaults and
    `experiment=baseline` is its experiment, as `[examples.<name>.reference]` in the manifest says."""
    project, package = single_example_project(template, example, tmp_path / example)
    reference = MANIFEST["examples"][example]["reference"]
    done = subprocess.run(
        [sys.executable, "-c", REFERENCE_RUN.format(package=package)],
        cwd=project,
        env=project_python_env(project),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    expected = {
        "data": config_target(f"data/{reference['data']}", package),
        "model": config_target(f"model/{reference['model']}", package),
        "monitor": {"metric": reference["metric"], "mode": reference["mode"]},
    }
    found = json.loads(done.stdout)
    default_net = found["default"].pop("net")
    found["baseline"].pop("net")  # the experiment's own choice
    if "net" in reference:  # the model's default network, set for this example
        assert default_net == config_target(f"model/net/{reference['net']}", package)
    assert found["default"] == found["baseline"] == expected
    assert stale_names(project) == []
    if example != "digits":
        assert (
            not list(project.rglob("digits*"))
            and "DigitsDataModule" not in (project / "tests" / "components.py").read_text()
        )


@pytest.mark.slow
@pytest.mark.parametrize("example", [e for e in EXAMPLES if e != "digits"])  # digits: the template's own
def test_each_example_alone_trains_its_baseline(template, tmp_path, example):
    """`train debug=fdr`, with the defaults and with `experiment=baseline`, runs in a project of one example
    (the template's environment, the project's package)."""
    project, package = single_example_project(template, example, tmp_path / example)
    env = {**project_python_env(project), f"{package.upper()}_LOG_DIR": str(tmp_path / "logs")}
    bare = [] if "needs" in MANIFEST["examples"][example]["reference"] else [[]]  # e.g. your data.root
    for experiment in [*bare, ["experiment=baseline"]]:
        done = subprocess.run(
            [sys.executable, "-m", f"{package}.train", *experiment, "debug=fdr"],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
        assert "Run plan:" in done.stdout


def test_history_starts_on_the_template_branch(generated):
    project = generated["minimal"]
    assert git("branch", "--show-current", cwd=project).strip() == "main"
    assert git("rev-parse", "main", cwd=project) == git("rev-parse", "template", cwd=project)
    assert len(git("log", "--format=%s", cwd=project).splitlines()) == 1
    assert git("status", "--porcelain", cwd=project) == ""
    record = json.loads((project / PROVENANCE).read_text())
    assert record["answers"]["examples"] == ["regression"]
    assert record["template"]["package"] == "lightning_hydra_template"


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        (
            {"package": "my_project", "examples": "digits,nope"},
            "error: examples: no such example nope; allowed: ",
        ),
        ({"package": "1abc"}, "error: package: got '1abc'; allowed: lower-case letters, digits and _"),
        ({"package": "torch"}, "error: package: 'torch' is taken"),
    ],
)
def test_bad_answers_are_one_line_and_write_nothing(template, tmp_path, answers, message):
    done = new_project(template, tmp_path / "p", name="P", **answers)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and done.stderr.startswith(message), done.stderr
    assert not (tmp_path / "p").exists()


@pytest.mark.slow  # about 10 s: two generations, two merges
def test_update_merges_template_changes_and_keeps_the_users(tmp_path):
    """Generated at commit A; the user commits a change; the template changes other lines (commit B):
    the update brings B's change in with no conflict and keeps the user's. A change of the same line on
    both sides is a conflict, reported in one line."""
    template = copy_of_template(tmp_path / "template")
    project = tmp_path / "project"
    assert (
        new_project(template, project, name="My Project", package="my_project", examples="digits").returncode
        == 0
    )
    readme = project / "README.md"
    readme.write_text(readme.read_text().replace("## Two commands", "## Two commands of mine"))
    (project / "notes.md").write_text("mine\n")
    commit_all(project, "my change")

    epochs = template / "docs" / "epochs.md"
    epochs.write_text(epochs.read_text() + "\nA line the template added later.\n")
    optimizer = template / "src" / "lightning_hydra_template" / "models" / "optimizers.py"
    optimizer.write_text(optimizer.read_text() + '\n\nTEMPLATE_B = "lightning_hydra_template.models"\n')
    commit_all(template, "B")

    updated = subprocess.run(
        ["make", "update-from-template", f"template={template}"],
        cwd=project,
        env=git_env(),
        capture_output=True,
        text=True,
    )
    assert updated.returncode == 0, updated.stderr
    assert (project / "docs" / "epochs.md").read_text().endswith("A line the template added later.\n")
    assert (
        'TEMPLATE_B = "my_project.models"'
        in (project / "src" / "my_project" / "models" / "optimizers.py").read_text()
    )
    assert "## Two commands of mine" in readme.read_text() and (project / "notes.md").is_file()
    assert not [
        p for p in project_files(project) if p.suffix in (".md", ".py") and "<<<<<<<" in p.read_text()
    ]
    assert (
        json.loads((project / PROVENANCE).read_text())["template"]["commit"]
        == git("rev-parse", "HEAD", cwd=template).strip()
    )
    assert git("status", "--porcelain", cwd=project) == ""
    assert len(git("log", "--format=%s", "template", cwd=project).splitlines()) == 2

    readme.write_text(readme.read_text().replace("## Two commands of mine", "## My two commands"))
    commit_all(project, "my second change")
    template_readme = template / "README.md"
    template_readme.write_text(template_readme.read_text().replace("## Two commands", "## The two commands"))
    commit_all(template, "C")
    conflicted = subprocess.run(
        ["make", "update-from-template", f"template={template}"],
        cwd=project,
        env=git_env(),
        capture_output=True,
        text=True,
    )
    assert conflicted.returncode != 0
    assert [line for line in conflicted.stderr.splitlines() if line.startswith("update:")] == [
        f"update: the template at {git('rev-parse', 'HEAD', cwd=template)[:12]} conflicts with your changes in "
        "README.md: resolve them and `git commit` (or `git merge --abort`)"
    ]


# ---------------------------------------------------------------- the projects' own tests (slow)

# The tests each project runs here (with `-m "not slow"`). The minimal project has another reference task
# (train.yaml's defaults, experiment=baseline), cut sections and fewer configs: all of its fast tests run.
# The full project's files are the template's own, renamed, which this suite already tests: the files that
# the renaming changes run. NEW_PROJECT_TESTS=all runs every fast test of both (several minutes more).
AFFECTED = {
    "all": ("tests/test_architecture.py", "tests/test_cli.py", "tests/test_docs.py", "tests/test_readme.py"),
    "minimal": (),  # all of them
}


def project_env(project: Path) -> dict[str, str]:
    """The test's environment for a project's own runs, where Python may write the bytecode of what it
    imports (the venv is synced without compiling all of site-packages)."""
    drop = ("PYTEST", "VIRTUAL_ENV", "LHT_", "PYTHONDONTWRITEBYTECODE")
    return {k: v for k, v in clean_env().items() if not k.startswith(drop)}


@pytest.fixture(scope="module")
def synced(generated: dict[str, Path]) -> dict[str, Path]:
    """Each generated project with its own .venv, from its own uv.lock (frozen, as make does), linked from uv's
    cache and without compiling site-packages' bytecode (`make setup` compiles it: a minute or more per
    project); the Makefile's stamp then says that the venv is set up, so `make lint` does not sync again."""
    for project in generated.values():
        done = subprocess.run(
            [UV, "sync", "--frozen", "--all-groups", "--quiet"],
            cwd=project,
            env={**project_env(project), "UV_COMPILE_BYTECODE": "0"},
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        (project / ".venv" / ".synced").touch()
    return generated


@pytest.mark.slow
@pytest.mark.parametrize("variant", VARIANTS)
def test_generated_project_passes_its_own_lint_and_tests(synced, variant):
    project = synced[variant]
    lint = subprocess.run(
        ["make", "lint"], cwd=project, env=project_env(project), capture_output=True, text=True
    )
    assert lint.returncode == 0, lint.stdout[-3000:]
    tests = [] if os.environ.get("NEW_PROJECT_TESTS") == "all" else list(AFFECTED[variant])
    done = subprocess.run(
        [
            str(project / ".venv/bin/python"),
            "-m",
            "pytest",
            "-m",
            "not slow",
            "-q",
            "-p",
            "no:cacheprovider",
            *tests,
        ],
        cwd=project,
        env=project_env(project),
        capture_output=True,
        text=True,
        timeout=3000,
    )
    assert done.returncode == 0, done.stdout[-5000:]


@pytest.mark.slow
def test_generated_project_loads_its_own_and_the_templates_checkpoints(synced, tmp_path):
    """A 1-epoch run in the generated project tests again from its checkpoint; a checkpoint trained in the
    template loads there after `python -m <package>.runs.retarget` (names read from .template.json)."""
    project = synced["minimal"]  # its reference task, and so its default, is the regression example
    tiny = ["trainer.max_epochs=1", "+trainer.limit_train_batches=2", "extras.plots=false"]
    env = {**project_env(project), "MY_PROJECT_LOG_DIR": str(tmp_path / "logs")}
    trained = subprocess.run(["make", "train", *tiny], cwd=project, env=env, capture_output=True, text=True)
    assert trained.returncode == 0, trained.stderr[-3000:]
    (own,) = (tmp_path / "logs" / "train" / "runs").glob("*/checkpoints/last.ckpt")
    evaluated = subprocess.run(
        ["make", "eval", f"ckpt_path={own}"], cwd=project, env=env, capture_output=True, text=True
    )
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]

    (tmp_path / "template_run").mkdir()
    before = run_module(
        "lightning_hydra_template.train",
        ["experiment=regression", *tiny, "test=false"],
        tmp_path / "template_run",
    )
    assert before.returncode == 0, before.stderr[-3000:]
    (old,) = (tmp_path / "template_run" / "logs" / "train" / "runs").glob("*/checkpoints/last.ckpt")
    refused = subprocess.run(
        ["make", "eval", f"ckpt_path={old}"], cwd=project, env=env, capture_output=True, text=True
    )
    assert refused.returncode == 2 and "carries no training config" in refused.stderr
    python = str(project / ".venv/bin/python")
    renamed = subprocess.run(
        [python, "-m", "my_project.runs.retarget", str(old), f"--out={tmp_path / 'renamed.ckpt'}"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
    )
    assert renamed.returncode == 0, renamed.stderr[-3000:]
    evaluated = subprocess.run(
        ["make", "eval", f"ckpt_path={tmp_path / 'renamed.ckpt'}"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
    )
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    assert "test/r2" in evaluated.stdout
