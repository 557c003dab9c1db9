"""The end-of-run summary: what the run achieved, where it went, how fast it was."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def describe_summary(summary: dict[str, Any]) -> str:
    lines = ["Summary"]
    monitor = summary.get("monitor")
    if summary.get("best_value") is not None:
        lines.append(
            f"  best {monitor}  {_fmt(summary['best_value'])} at epoch {summary['best_epoch']}"
            f" of {summary['epochs_run']}"
        )
    if summary.get("test"):
        lines.append(
            "  test        " + " | ".join(f"{k} {_fmt(v)}" for k, v in sorted(summary["test"].items()))
        )
    if summary.get("best_checkpoint"):
        lines.append(f"  checkpoint  {summary['best_checkpoint']}")
    lines.append(f"  run dir     {summary['run_dir']}")
    timing = f"  wall time   {summary['wall_seconds']:.1f} s"
    if summary.get("fit_seconds"):
        timing += (
            f" (fit {summary['fit_seconds']:.1f} s, {summary['samples_per_second']:,.0f} training samples/s)"
        )
    lines.append(timing)
    return "\n".join(lines)


def write_summary(summary: dict[str, Any], run_dir: str | Path) -> Path:
    path = Path(run_dir) / "summary.json"
    path.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return path
