"""A local index of runs: one line per run and sweep job found under the log folder, oldest first.

    make runs                                    # every run under logs/ (or $LHT_LOG_DIR)
    make runs experiment=baseline status=completed
    make runs optimizer=sgd data.batch_size=32   # any config group choice or config value
    make runs compare=<run dir 1>,<run dir 2>    # config and metric differences of two runs

Reads only the files runs leave behind (.hydra/*.yaml, summary.json, status.json): no torch, fast.
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from lightning_hydra_template.config.errors import fail
from lightning_hydra_template.config.overrides import make_overrides

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STAMP = re.compile(r"(\d{4}-\d{2}-\d{2})_(\d{2})-(\d{2})-(\d{2})")
# Overrides that say where a run went rather than what it did.
_BOOKKEEPING = ("hydra.", "ckpt_path", "paths.", "resume")
_RESERVED = ("compare", "log_dir")


@dataclass
class Run:
    path: Path
    date: str
    task: str
    experiment: str
    overrides: list[str]
    status: str
    monitor: str
    best: float | None
    test: dict[str, float]
    config: dict[str, Any] = field(repr=False)
    choices: dict[str, Any] = field(repr=False)


def _load_yaml(path: Path) -> Any:
    try:
        return yaml.load(path.read_text(), Loader=_Loader)
    except (OSError, yaml.YAMLError):
        return None


def _load_json(path: Path) -> dict[str, Any]:
    try:
        loaded = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _date(run_dir: Path, summary: dict[str, Any]) -> str:
    for part in (run_dir.name, run_dir.parent.name):  # a run's folder, or a sweep job's sweep folder
        if found := _STAMP.search(part):
            return f"{found.group(1)} {found.group(2)}:{found.group(3)}:{found.group(4)}"
    provenance = summary.get("provenance") or []
    if provenance and provenance[0].get("started"):
        return str(provenance[0]["started"])[:19].replace("T", " ")
    mtime = (run_dir / ".hydra" / "config.yaml").stat().st_mtime
    return datetime.fromtimestamp(mtime).strftime("%Y-%m-%d %H:%M:%S")


def _status(run_dir: Path, summary: dict[str, Any]) -> str:
    if summary.get("status"):
        return str(summary["status"])
    job_status = _load_json(run_dir / "status.json").get("status")
    if job_status:
        return str(job_status)
    if (run_dir / "checkpoints" / "last.ckpt").is_file():
        return "interrupted"
    return "incomplete"  # still running, or stopped before writing anything


def read_run(run_dir: Path) -> Run:
    """What the index shows of one run directory (one holding ``.hydra/config.yaml``)."""
    config = _load_yaml(run_dir / ".hydra" / "config.yaml") or {}
    hydra = (_load_yaml(run_dir / ".hydra" / "hydra.yaml") or {}).get("hydra", {})
    overrides = _load_yaml(run_dir / ".hydra" / "overrides.yaml") or []
    summary = _load_json(run_dir / "summary.json")
    choices = (hydra.get("runtime") or {}).get("choices") or {}
    monitor = summary.get("monitor") or (config.get("monitor") or {}).get("metric") or ""
    return Run(
        path=run_dir,
        date=_date(run_dir, summary),
        task=str(config.get("task_name") or ""),
        experiment=str(choices.get("experiment") or "-"),
        overrides=[o for o in overrides if not o.lstrip("+~").startswith(_BOOKKEEPING)],
        status=_status(run_dir, summary),
        monitor=monitor,
        best=summary.get("best_value"),
        test=dict(summary.get("test") or {}),
        config=config,
        choices=choices,
    )


def find_runs(log_dir: Path) -> list[Run]:
    """Every run and sweep job below ``log_dir``, oldest first."""
    if not log_dir.is_dir():
        return []
    runs = [read_run(marker.parent.parent) for marker in log_dir.rglob(".hydra/config.yaml")]
    return sorted(runs, key=lambda r: (r.date, _natural(r.path)))


def _natural(path: Path) -> list[Any]:
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", str(path))]


def _lookup(config: dict[str, Any], dotted: str) -> Any:
    node: Any = config
    for key in dotted.split("."):
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def matches(run: Run, filters: dict[str, str]) -> bool:
    """``status``, ``experiment`` and ``task`` by name; any other key as a group choice or config value."""
    for key, wanted in filters.items():
        if key in ("status", "experiment", "task"):
            value: Any = getattr(run, key)
        elif key in run.choices:
            value = run.choices[key]
        else:
            value = _lookup(run.config, key)
        if value is None or (str(value) != wanted and _scalar(value) != _scalar(wanted)):
            return False
    return True


def _scalar(value: Any) -> Any:
    if isinstance(value, str):
        loaded = yaml.load(value, Loader=_Loader) if value else value
        return loaded if isinstance(loaded, (int, float, bool)) else value
    return value


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def format_run(run: Run, root: Path) -> list[str]:
    try:
        where = str(run.path.relative_to(root))
    except ValueError:
        where = str(run.path)
    best = f"{run.monitor} {_fmt(run.best)}" if run.best is not None else "-"
    test = " ".join(f"{k} {_fmt(v)}" for k, v in sorted(run.test.items())) or "-"
    name = f"{run.task}/{run.experiment}" if run.experiment != "-" else run.task
    return [run.date, name, run.status, best, test, " ".join(run.overrides) or "-", where]


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [header, *rows]
    )


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out |= _flat(item, f"{prefix}.{key}" if prefix else str(key))
        return out
    return {prefix: value}


def compare(first: Path, second: Path) -> str:
    """The config values and the metrics that differ between two runs."""
    a, b = read_run(first), read_run(second)
    flat_a, flat_b = _flat(a.config), _flat(b.config)
    skip = ("paths.", "hydra.")
    lines = [f"A  {first}", f"B  {second}", "config (A -> B)"]
    keys = sorted(k for k in flat_a.keys() | flat_b.keys() if not k.startswith(skip))
    changed = [k for k in keys if flat_a.get(k) != flat_b.get(k)]
    lines += [f"  {k}: {flat_a.get(k, '(absent)')} -> {flat_b.get(k, '(absent)')}" for k in changed]
    if not changed:
        lines.append("  (identical)")
    lines.append("metrics (A -> B, B - A)")
    metrics_a = {f"best {a.monitor}": a.best, **a.test, "status": a.status}
    metrics_b = {f"best {b.monitor}": b.best, **b.test, "status": b.status}
    for key in sorted(metrics_a.keys() | metrics_b.keys()):
        va, vb = metrics_a.get(key), metrics_b.get(key)
        delta = f"  ({vb - va:+.4f})" if isinstance(va, float) and isinstance(vb, float) else ""
        lines.append(f"  {key}: {_fmt(va)} -> {_fmt(vb)}{delta}")
    return "\n".join(lines)


def _parse(args: list[str]) -> dict[str, str]:
    parsed = {}
    for arg in args:
        key, sep, value = arg.partition("=")
        if not sep or not key:
            fail(
                f"{arg}: not a key=value filter; allowed: status=, experiment=, task=, <config key>=, compare=A,B"
            )
        parsed[key] = value
    return parsed


def main(argv: list[str] | None = None) -> int:
    args = _parse(make_overrides() + list(sys.argv[1:] if argv is None else argv))
    log_dir = Path(args.pop("log_dir", os.environ.get("LHT_LOG_DIR", "logs")))
    if "compare" in args:
        dirs = [Path(p) for p in args["compare"].split(",") if p]
        if len(dirs) != 2:
            fail(
                f"compare: {args['compare']} names {len(dirs)} run directories; allowed: compare=<dir1>,<dir2>"
            )
        for run_dir in dirs:
            if not (run_dir / ".hydra" / "config.yaml").is_file():
                fail(f"compare: {run_dir} is not a run directory (no .hydra/config.yaml)")
        print(compare(*dirs))
        return 0
    runs = [r for r in find_runs(log_dir) if matches(r, args)]
    if not runs:
        where = f" matching {' '.join(f'{k}={v}' for k, v in args.items())}" if args else ""
        print(f"no runs under {log_dir}{where}")
        return 0
    header = ["date", "task/experiment", "status", "best", "test", "overrides", "run dir"]
    print(table([format_run(r, log_dir) for r in runs], header))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
