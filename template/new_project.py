"""Start a new project from this template, or take a later template version into one (docs/new_project.md).

    python template/new_project.py create --name "My Project" --package my_project --dest ../my-project \
        [--author "Ada <ada@example.org>"] [--description "..."] [--examples digits,csv] [--ref <commit>]
    python template/new_project.py update --project <generated project>      # what make update-from-template runs

Standard library only (no torch, no Lightning, no .venv): it runs in about a second, plus `uv lock`.
A project is generated from a commit of this repository (`git archive`), never from uncommitted files, so
that the same answers and commit always give the same files: updates merge against exactly that.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import keyword
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Sequence
from io import BytesIO
from pathlib import Path

TEMPLATE_ROOT = Path(__file__).resolve().parents[1]
MANIFEST = Path(__file__).with_name("examples.toml")
ANSWERS_FILE = ".template.json"
TEMPLATE_BRANCH = "template"
LINTED = ("src", "tests", "benchmarks")  # what make lint checks

# The template's own names, renamed in every generated file and path.
PACKAGE = "lightning_hydra_template"
DIST = "lightning-hydra-template"
SHORT = "lht"  # console scripts lht-*, variables LHT_*, resolver and checkpoint keys lht_*

# Imports that a package of that name would shadow.
RESERVED = {
    "torch",
    "lightning",
    "hydra",
    "omegaconf",
    "numpy",
    "pandas",
    "tests",
    "benchmarks",
    "src",
    "test",
}

MARKER = re.compile(r"(?:<!--|#)\s*(/?)(example:[a-z_]+|template-only)\s*(?:-->)?\s*$")


class UsageError(Exception):
    """A bad answer: reported as one line ``error: <field>: <problem>``, exit status 2."""


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if args.command == "create":
            answers = check_answers(
                {
                    "name": args.name,
                    "package": args.package,
                    "author": args.author,
                    "description": args.description,
                    "examples": args.examples,
                }
            )
            dest = check_dest(args.dest)
            commit = template_commit(args.ref)
            generate(answers, commit, dest)
            lock(dest)
            tidy(dest)
            start_history(dest, answers, commit)
            print(f"created {dest} ({answers['package']}, examples: {', '.join(answers['examples'])})")
            print(f"next: cd {dest} && make test")
        else:
            update(Path(args.project).resolve(), template_commit(args.ref))
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    create = sub.add_parser("create", help="generate a new project")
    create.add_argument("--name", default="", help="project name, e.g. 'My Project' (README title)")
    create.add_argument("--package", default="", help="Python package name, e.g. my_project")
    create.add_argument("--dest", default="", help="new directory for the project")
    create.add_argument("--author", default="", help="'Name' or 'Name <email>'")
    create.add_argument("--description", default="", help="one sentence for pyproject and README")
    create.add_argument("--examples", default="", help=f"comma-separated, from: {', '.join(example_names())}")
    create.add_argument("--ref", default="HEAD", help="template commit to generate from")
    upd = sub.add_parser("update", help="merge this template commit into a generated project")
    upd.add_argument("--project", default=".", help="the generated project (a git checkout)")
    upd.add_argument("--ref", default="HEAD", help="template commit to update to")
    return parser.parse_args(argv)


# ---------------------------------------------------------------- answers


def manifest() -> dict:
    return read_toml(MANIFEST.read_text())


def read_toml(text: str) -> dict:
    """examples.toml: tomllib where there is one (Python >= 3.11), else the subset the manifest uses
    (tables, strings, booleans, arrays of strings, comments)."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        pass
    else:
        return tomllib.loads(text)
    root: dict = {}
    table = root
    lines = iter(text.splitlines())
    for line in lines:
        line = line.split(" #")[0].strip() if not line.lstrip().startswith("#") else ""
        if not line:
            continue
        if line.startswith("["):
            table = root
            for part in line.strip("[]").split("."):
                table = table.setdefault(part, {})
            continue
        key, _, value = (part.strip() for part in line.partition("="))
        while value.startswith("[") and not value.endswith("]"):
            value += next(lines).split(" #")[0].strip()
        table[key] = json.loads(value.replace(",]", "]"))
    return root


def example_names() -> list[str]:
    return list(manifest()["examples"])


def check_answers(raw: dict) -> dict:
    name = (raw.get("name") or "").strip()
    if not name:
        raise UsageError('name: required; allowed: any text, e.g. name="My Project"')
    package = (raw.get("package") or "").strip() or re.sub(r"\W+", "_", name.lower()).strip("_")
    if not re.fullmatch(r"[a-z][a-z0-9_]*", package) or keyword.iskeyword(package):
        raise UsageError(
            f"package: got {package!r}; allowed: lower-case letters, digits and _, e.g. my_project"
        )
    if package == PACKAGE or package in RESERVED or package in sys.stdlib_module_names:
        raise UsageError(
            f"package: {package!r} is taken (the template's or another import); allowed: a new name"
        )
    allowed = example_names()
    examples = raw.get("examples") or []
    if isinstance(examples, str):
        examples = [e.strip() for e in examples.split(",") if e.strip()]
    if not examples:
        examples = allowed
    unknown = [e for e in examples if e not in allowed]
    if unknown:
        raise UsageError(f"examples: no such example {', '.join(unknown)}; allowed: {', '.join(allowed)}")
    kept = [e for e in allowed if e in examples]  # manifest order: the first is the reference task
    description = (
        raw.get("description") or ""
    ).strip() or f"{name}: training with PyTorch Lightning and Hydra."
    return {
        "name": name,
        "package": package,
        "author": (raw.get("author") or "").strip(),
        "description": description,
        "examples": kept,
    }


def check_dest(dest: str) -> Path:
    if not dest:
        raise UsageError("dest: required; allowed: a new directory, e.g. dest=../my-project")
    path = Path(dest).expanduser().resolve()
    if path.exists() and any(path.iterdir()):
        raise UsageError(f"dest: {path} exists and is not empty; allowed: a new or empty directory")
    if path == TEMPLATE_ROOT or TEMPLATE_ROOT in path.parents:
        raise UsageError(f"dest: {path} is inside the template checkout; allowed: a directory outside it")
    return path


def names(answers: dict) -> list[tuple[str, str]]:
    """(template name, project name) pairs, longest first so that no replacement eats another's match."""
    package = answers["package"]
    dist = package.replace("_", "-")
    return [
        (PACKAGE, package),
        (DIST, dist),
        (f"{SHORT.upper()}_", f"{package.upper()}_"),
        (f"{SHORT}-", f"{dist}-"),
        (f"{SHORT}_", f"{package}_"),
    ]


def rename(text: str, pairs: list[tuple[str, str]]) -> str:
    for old, new in pairs:
        # the short names only where they start a word: `lht-train`, `LHT_LOG_DIR`, `_lht_dir_prefix`
        pattern = re.escape(old) if len(old) > 4 else rf"(?<![A-Za-z0-9]){re.escape(old)}"
        text = re.sub(pattern, new.replace("\\", "\\\\"), text)
    return text


# ---------------------------------------------------------------- generating


def git(*args: str, cwd: Path = TEMPLATE_ROOT, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=check)


def template_commit(ref: str) -> str:
    found = git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
    if found.returncode != 0:
        raise UsageError(f"ref: {ref!r} is not a commit of {TEMPLATE_ROOT}; allowed: a commit, branch or tag")
    commit = found.stdout.strip()
    if ref == "HEAD" and git("status", "--porcelain", "--untracked-files=no").stdout.strip():
        print(
            f"note: uncommitted template changes are left out (generating from {commit[:12]})",
            file=sys.stderr,
        )
    return commit


def generate(answers: dict, commit: str, dest: Path) -> None:
    """The template's files at ``commit``, without the dropped examples, renamed, into ``dest``."""
    spec = manifest()
    ref = {"example": answers["examples"][0], **spec["examples"][answers["examples"][0]]["reference"]}
    dropped = [e for e in spec["examples"] if e not in answers["examples"]]
    removed = [p for e in dropped for p in spec["examples"][e]["paths"]] + spec["template"]["only"]
    pairs = names(answers)
    archive = subprocess.run(
        ["git", "archive", commit], cwd=TEMPLATE_ROOT, capture_output=True, check=True
    ).stdout
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        for member in tar.getmembers():
            if not member.isfile() or is_removed(member.name, removed):
                continue
            data = tar.extractfile(member).read()
            target = dest / rename(member.name, pairs)
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                text = data.decode()
            except UnicodeDecodeError:
                target.write_bytes(data)  # images: copied as they are
            else:
                text = rename(strip_sections(text, answers["examples"], member.name), pairs)
                target.write_text(customise(member.name, reference_task(member.name, text, ref), answers))
            target.chmod(member.mode & 0o777 | 0o600)
    record = {
        "template": {"source": template_source(), "commit": commit, "package": PACKAGE, "short": SHORT},
        "answers": answers,
    }
    (dest / ANSWERS_FILE).write_text(json.dumps(record, indent=2) + "\n")


def is_removed(path: str, removed: list[str]) -> bool:
    return any(path == p or path.startswith(p.rstrip("/") + "/") or fnmatch.fnmatch(path, p) for p in removed)


def strip_sections(text: str, kept: list[str], path: str = "") -> str:
    """Cut the sections of dropped examples and template-only ones; drop every marker."""
    out: list[str] = []
    stack: list[tuple[str, bool]] = []  # (section, keep)
    for number, line in enumerate(text.splitlines(keepends=True), 1):
        found = MARKER.search(line)
        if not found:
            if all(keep for _, keep in stack):
                out.append(line)
            continue
        closing, section = found.group(1) == "/", found.group(2)
        keep = section != "template-only" and section.split(":", 1)[1] in kept
        before = line[: found.start()].rstrip()
        if before:  # a marked line
            if keep and all(k for _, k in stack):
                out.append(before + "\n")
        elif closing:
            if not stack or stack[-1][0] != section:
                raise ValueError(f"{path}:{number}: /{section} closes nothing")
            stack.pop()
        else:
            stack.append((section, keep))
    if stack:
        raise ValueError(f"{path}: {stack[-1][0]} is never closed")
    result = "".join(out)
    if path.endswith(".py"):  # where a cut left more blank lines than ruff format allows
        result = re.sub(r"\n{4,}", "\n\n\n", result)
    if path.endswith(".md"):  # one blank line where a cut section was
        result = re.sub(r"\n{3,}", "\n\n", result)
    return result


def customise(path: str, text: str, answers: dict) -> str:
    """The project's own title, description and author."""
    if path == "pyproject.toml":
        text = re.sub(
            r'(?m)^description = ".*"$', lambda _: f"description = {json.dumps(answers['description'])}", text
        )
        if answers["author"]:
            found = re.fullmatch(r"(.*?)\s*<(.+)>", answers["author"])
            author = {"name": found[1], "email": found[2]} if found else {"name": answers["author"]}
            inline = ", ".join(f"{k} = {json.dumps(v)}" for k, v in author.items())
            text = re.sub(
                r"(?m)^(description = .*\n)", lambda m: f"{m[1]}authors = [{{ {inline} }}]\n", text, count=1
            )
    if path == "README.md":  # the title and the first paragraph become the project's
        text = re.sub(
            r"\A# .*\n\n(?:.+\n)+", lambda _: f"# {answers['name']}\n\n{answers['description']}\n", text
        )
    return text


def set_value(text: str, pattern: str, value: str, path: str) -> str:
    """``pattern``'s one match (a line prefix, then the value) set to ``value``, the comment kept in its
    column where it fits."""

    def replace(found: re.Match) -> str:
        width = len(found[2]) + len(found[3])
        return f"{found[1]}{value}{' ' * max(width - len(value), 1) if found[3] else ''}"

    text, count = re.subn(rf"(?m)^({pattern})(\S+)( *)(?=#|$)", replace, text)
    if count != 1:
        raise ValueError(f"{path}: expected one line matching {pattern!r}, found {count}")
    return text


def reference_task(path: str, text: str, ref: dict) -> str:
    """The reference task ``ref`` (the first kept example's ``reference`` entry in the manifest) in the
    files that name it: train.yaml's defaults, the baseline experiment and the model's default network."""
    if path == "configs/train.yaml":
        for pattern, value in (
            (r"  - data: ", ref["data"]),
            (r"  - model: ", ref["model"]),
            (r"  metric: ", ref["metric"]),
            (r"  mode: ", ref["mode"]),
        ):
            text = set_value(text, pattern, value, path)
    elif path == "configs/experiment/baseline.yaml" and ref["experiment"] != "baseline":
        text = (
            "# @package _global_\n"
            f"# The project's reference run: the {ref['example']} example's experiment "
            f"(configs/experiment/{ref['experiment']}.yaml).\n"
            "# make train experiment=baseline\n"
            "defaults:\n"
            f"  - {ref['experiment']}\n"
        )
    elif path == f"configs/model/{ref['model']}.yaml" and "net" in ref:
        text = set_value(text, r"  - net: ", ref["net"], path)
    return text


def template_source() -> str:
    """Where updates come from: the template's origin when it has one, else this checkout."""
    found = git("remote", "get-url", "origin", check=False)
    url = found.stdout.strip() if found.returncode == 0 else ""
    return url or str(TEMPLATE_ROOT)


def lock(dest: Path) -> None:
    """uv.lock names the project: lock again for the new name (offline from uv's cache when it can)."""
    uv = shutil.which("uv") or str(Path.home() / ".local/bin/uv")
    for extra in (["--offline"], []):
        try:
            done = subprocess.run([uv, "lock", "--quiet", *extra], cwd=dest, capture_output=True, text=True)
        except FileNotFoundError:
            break
        if done.returncode == 0:
            return
    print(
        "note: uv lock did not run; the renamed uv.lock is kept (run `uv lock` in the project)",
        file=sys.stderr,
    )


def tidy(dest: Path) -> None:
    """Imports and line lengths after the cuts and renames, as `make format` would: with the ruff version
    uv.lock pins, run through uvx (offline from uv's cache when it can)."""
    found = re.search(r'name = "ruff"\nversion = "([^"]+)"', (dest / "uv.lock").read_text())
    uvx = shutil.which("uvx") or str(Path.home() / ".local/bin/uvx")
    ruff = f"ruff@{found[1]}" if found else "ruff"
    for extra in (["--offline"], []):
        try:
            fixed = subprocess.run(
                [uvx, *extra, ruff, "check", "--fix", "--quiet", *LINTED], cwd=dest, capture_output=True
            )
        except FileNotFoundError:
            break
        if fixed.returncode == 0:
            subprocess.run([uvx, *extra, ruff, "format", "--quiet", *LINTED], cwd=dest, capture_output=True)
            return
    print("note: ruff did not run; run `make format` in the project", file=sys.stderr)


def start_history(dest: Path, answers: dict, commit: str) -> None:
    """The first commit on the ``template`` branch, and ``main`` starting from it."""
    git("init", "--quiet", f"--initial-branch={TEMPLATE_BRANCH}", str(dest), cwd=dest)
    commit_all(dest, f"{answers['name']}: generated from the template at {commit[:12]}", answers)
    git("checkout", "--quiet", "-b", "main", cwd=dest)


def commit_all(repo: Path, message: str, answers: dict) -> bool:
    git("add", "-A", cwd=repo)
    if not git("status", "--porcelain", cwd=repo).stdout.strip():
        return False
    git(*identity(repo, answers), "commit", "--quiet", "-m", message, cwd=repo)
    return True


def identity(repo: Path, answers: dict) -> list[str]:
    """git's user for the generator's commits where none is configured: the author, else a placeholder."""
    if git("config", "user.email", cwd=repo, check=False).returncode == 0:
        return []
    found = re.fullmatch(r"(.*?)\s*<(.+)>", answers["author"])
    who, email = (
        (found[1], found[2]) if found else (answers["author"] or "new_project", "new_project@localhost")
    )
    return ["-c", f"user.name={who}", "-c", f"user.email={email}"]


# ---------------------------------------------------------------- updating


def update(project: Path, commit: str) -> None:
    """Generate again from ``commit`` with the recorded answers onto the ``template`` branch, then merge it."""
    answers_path = project / ANSWERS_FILE
    if not answers_path.is_file():
        raise UsageError(
            f"project: {project} has no {ANSWERS_FILE}; allowed: a project made by make new-project"
        )
    record = json.loads(answers_path.read_text())
    answers = check_answers(record["answers"])
    has = lambda ref: git("rev-parse", "--verify", "--quiet", ref, cwd=project, check=False).returncode == 0  # noqa: E731
    if not has(TEMPLATE_BRANCH) and has(
        f"origin/{TEMPLATE_BRANCH}"
    ):  # a fresh clone: the branch is remote only
        git("branch", "--quiet", TEMPLATE_BRANCH, f"origin/{TEMPLATE_BRANCH}", cwd=project)
    if not has(TEMPLATE_BRANCH):
        raise UsageError(
            f"project: {project} has no `{TEMPLATE_BRANCH}` branch; allowed: a project made by make new-project"
        )
    if git("status", "--porcelain", "--untracked-files=no", cwd=project).stdout.strip():
        raise UsageError(f"project: {project} has uncommitted changes; allowed: commit or stash them first")
    if record["template"]["commit"] == commit:
        print(f"already at template commit {commit[:12]}")
        return
    with tempfile.TemporaryDirectory(prefix="template-update-") as tmp:
        fresh, worktree = Path(tmp) / "fresh", Path(tmp) / "worktree"
        generate(answers, commit, fresh)
        lock(fresh)
        tidy(fresh)
        git("worktree", "add", "--quiet", str(worktree), TEMPLATE_BRANCH, cwd=project)
        try:
            git("rm", "-r", "--quiet", ".", cwd=worktree)
            shutil.copytree(fresh, worktree, dirs_exist_ok=True)
            changed = commit_all(worktree, f"template update to {commit[:12]}", answers)
        finally:
            git("worktree", "remove", "--force", str(worktree), cwd=project)
    if not changed:
        print(f"no change from the template at {commit[:12]}")
        return
    merge = [*identity(project, answers), "merge", "--no-edit", "--quiet", TEMPLATE_BRANCH]
    merged = git(*merge, cwd=project, check=False)
    if merged.returncode != 0:
        conflicts = git("diff", "--name-only", "--diff-filter=U", cwd=project).stdout.split()
        print(
            f"update: the template at {commit[:12]} conflicts with your changes in {', '.join(conflicts) or '?'}: "
            "resolve them and `git commit` (or `git merge --abort`)",
            file=sys.stderr,
        )
        raise SystemExit(1)
    print(
        f"merged the template at {commit[:12]} into {git('branch', '--show-current', cwd=project).stdout.strip()}"
    )


if __name__ == "__main__":
    sys.exit(main())
