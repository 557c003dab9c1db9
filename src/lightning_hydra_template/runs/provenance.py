"""What produced a run: code (git), command line, package versions and hardware.

Each start of a run directory (the first run, then every ``resume=``) appends one record to
``<run dir>/provenance.json``; a dirty work tree's uncommitted diff is saved next to it as a patch.
Git is asked only when a ``.git`` is found above the working directory, with a few fast calls.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from lightning_hydra_template.config.secrets import redact

PROVENANCE_FILE = "provenance.json"
PACKAGES = {"torch": "torch", "lightning": "lightning", "hydra": "hydra-core", "torchmetrics": "torchmetrics"}
_GIT_TIMEOUT = 5.0

_command_line: dict[str, list[str]] = {}


def remember_command_line(argv: list[str], make_overrides: list[str]) -> None:
    """The command as typed, before the entry point rewrites ``sys.argv`` (make words, ``resume=``)."""
    _command_line["argv"] = list(argv)
    _command_line["make_overrides"] = list(make_overrides)


def command_line() -> dict[str, list[str]]:
    return {
        "argv": list(_command_line.get("argv", sys.argv)),
        "make_overrides": list(_command_line.get("make_overrides", [])),
    }


def _git_root(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return None


def _git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=root, capture_output=True, text=True, timeout=_GIT_TIMEOUT, check=True
    )
    return done.stdout


def git_state(start: Path | None = None) -> dict[str, Any]:
    """Commit, branch and dirty state of the repository holding ``start`` (default: the working directory).

    ``{"available": False, "reason": ...}`` when there is no repository or git cannot answer.
    The uncommitted diff (``git diff HEAD``) is returned under ``"diff"`` when the tree is dirty.
    """
    root = _git_root((start or Path.cwd()).resolve())
    if root is None:
        return {"available": False, "reason": "not a git repository"}
    try:
        status = _git(root, "status", "--porcelain", "--branch", "--untracked-files=normal")
        commit = _git(root, "rev-parse", "--verify", "--quiet", "HEAD").strip() or None
    except FileNotFoundError:
        return {"available": False, "reason": "git is not installed"}
    except subprocess.CalledProcessError as err:
        if "status" in err.cmd:
            return {"available": False, "reason": (err.stderr or "git failed").strip().splitlines()[-1]}
        commit = None  # a repository without commits
    except subprocess.TimeoutExpired:
        return {"available": False, "reason": "git did not answer in time"}
    lines = status.splitlines()
    header = lines[0][3:] if lines and lines[0].startswith("## ") else ""
    branch = header.split("...")[0].removeprefix("No commits yet on ")
    changed = [line[3:] for line in lines[1:]]
    state: dict[str, Any] = {
        "available": True,
        "root": str(root),
        "commit": commit,
        "branch": None if branch.startswith("HEAD (no branch)") else branch,
        "dirty": bool(changed),
        "changed_files": changed,
    }
    if changed and commit:
        try:
            state["diff"] = _git(root, "diff", "HEAD", "--binary")
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            state["diff"] = ""
    return state


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _accelerators() -> dict[str, Any]:
    """CUDA/cuDNN versions and GPUs, from torch when it is already imported (never imported here)."""
    torch = sys.modules.get("torch")
    if torch is None:
        return {"cuda": None, "cudnn": None, "gpus": []}
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    gpus = []
    if torch.cuda.is_available():
        for index in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(index)
            gpus.append({"name": props.name, "memory_gib": round(props.total_memory / 2**30, 1)})
    return {"cuda": torch.version.cuda, "cudnn": cudnn, "gpus": gpus}


def collect(start: Path | None = None) -> dict[str, Any]:
    """One provenance record for a run starting now."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    versions |= {name: _version(dist) for name, dist in PACKAGES.items()}
    return {
        "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": command_line(),
        "cwd": os.getcwd(),
        "git": git_state(start),
        "versions": versions,
        "host": {"name": socket.gethostname(), "platform": platform.platform(), "cpu": _cpu_model()},
        **_accelerators(),
    }


def record_provenance(run_dir: str | Path, start: Path | None = None) -> list[dict[str, Any]]:
    """Append this start's record to ``<run dir>/provenance.json`` and return all records, oldest first.

    A dirty tree's diff goes to ``git.patch`` (``git.<n>.patch`` for the n-th resume).
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / PROVENANCE_FILE
    records: list[dict[str, Any]] = []
    if path.is_file():
        try:
            loaded = json.loads(path.read_text())
            records = loaded if isinstance(loaded, list) else [loaded]
        except json.JSONDecodeError:
            records = []
    record = redact(collect(start))  # a secret typed on the command line stays masked
    diff = record["git"].pop("diff", None)
    if diff is not None:
        name = "git.patch" if not records else f"git.{len(records)}.patch"
        (run_dir / name).write_text(diff)
        record["git"]["patch"] = name
    records.append(record)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(records, indent=2) + "\n")
    tmp.replace(path)
    return records


def provenance_params(record: dict[str, Any]) -> dict[str, Any]:
    """The fields trackers show as run parameters/tags, flat, under ``provenance.``."""
    git = record.get("git", {})
    command = record.get("command", {})
    argv = command.get("argv", [])
    params = {
        "provenance.git.commit": git.get("commit") if git.get("available") else "unavailable",
        "provenance.git.branch": git.get("branch"),
        "provenance.git.dirty": git.get("dirty"),
        "provenance.command": " ".join(argv[:1] + command.get("make_overrides", []) + argv[1:]),
        "provenance.host": record.get("host", {}).get("name"),
        "provenance.cpu": record.get("host", {}).get("cpu"),
        "provenance.cuda": record.get("cuda"),
        "provenance.cudnn": record.get("cudnn"),
        "provenance.gpus": ", ".join(f"{g['name']} ({g['memory_gib']} GiB)" for g in record.get("gpus", [])),
    }
    params |= {f"provenance.version.{k}": v for k, v in record.get("versions", {}).items()}
    return {k: ("" if v is None else v) for k, v in params.items()}
