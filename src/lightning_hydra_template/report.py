"""Summarise a sweep directory: report.csv, report.md and report.png, one row / one line per job.

    make report sweep=logs/train/multiruns/<date>_<time>_<id>
    make report                      # the newest sweep under logs/
    python -m lightning_hydra_template.report <sweep dir>

Reads what every job leaves in its own directory: ``.hydra/overrides.yaml`` (what the job changed),
``summary.json`` (metrics, per-epoch history, timings) and ``status.json`` (a failure or skip).
No torch or Lightning import: it runs in about a second.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from lightning_hydra_template.config.errors import fail
from lightning_hydra_template.config.overrides import make_overrides
from lightning_hydra_template.distributed.sweep_report import write_report


def latest_sweep(log_dir: Path) -> Path | None:
    """The most recently modified sweep directory below ``log_dir`` (``<task>/multiruns/<sweep>``)."""
    candidates = [p for p in log_dir.glob("*/multiruns/*") if p.is_dir()]
    return max(candidates, key=lambda p: p.stat().st_mtime) if candidates else None


def main(argv: list[str] | None = None) -> int:
    args = make_overrides() + list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-h", "--help") for a in args):
        print(__doc__)
        return 0
    given = [a.split("=", 1)[1] if a.startswith("sweep=") else a for a in args]
    if len(given) > 1:
        fail(f"sweep: one sweep directory expected, got {len(given)}; allowed: sweep=<dir>")
    log_dir = Path(os.environ.get("LHT_LOG_DIR", "logs"))
    sweep_dir = Path(given[0]) if given else latest_sweep(log_dir)
    if sweep_dir is None:
        fail(
            f"sweep: no sweep directory given and none found under {log_dir}/*/multiruns; allowed: sweep=<dir>"
        )
    if not sweep_dir.is_dir():
        fail(
            f"sweep: {sweep_dir} is not a directory; allowed: a sweep directory such as logs/train/multiruns/<id>"
        )
    jobs = write_report(sweep_dir)
    if not jobs:
        fail(f"sweep: {sweep_dir} holds no job directories; allowed: a Hydra multirun or search directory")
    counts = {s: sum(j["status"] == s for j in jobs) for s in sorted({j["status"] for j in jobs})}
    print(f"{len(jobs)} jobs ({', '.join(f'{n} {s}' for s, n in counts.items())})")
    print(f"wrote {sweep_dir / 'report.md'}, report.csv, report.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
