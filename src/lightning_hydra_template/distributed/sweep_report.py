"""A sweep's report: report.csv, report.md and report.png from what every job left in its directory.

Reads ``.hydra/overrides.yaml`` (what the job changed), ``summary.json`` (metrics, per-epoch history,
timings) and ``status.json`` (a failure or skip). No torch or Lightning import.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

COLUMNS = (
    "job",
    "status",
    "overrides",
    "monitor",
    "best",
    "best_epoch",
    "final",
    "final_val_loss",
    "final_train_loss",
    "epochs",
    "iterations_per_epoch",
    "global_batch_size",
    "optimizer_steps",
    "fit_seconds",
    "seconds_per_epoch",
    "wall_seconds",
    "run_dir",
    "error",
)  # report.csv: these, then one column per test metric (test/acc, test/loss, ...), sortable


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _read_overrides(job_dir: Path) -> list[str]:
    path = job_dir / ".hydra" / "overrides.yaml"
    if not path.is_file():
        return []
    from omegaconf import OmegaConf

    return [str(o) for o in OmegaConf.load(path)]


def job_dirs(sweep_dir: Path) -> list[Path]:
    """Job directories of a sweep: sub-directories a job has written into, in job-number order."""
    found = [
        p
        for p in sweep_dir.iterdir()
        if p.is_dir() and any((p / name).exists() for name in (".hydra", "summary.json", "status.json"))
    ]
    return sorted(found, key=lambda p: (0, int(p.name), "") if p.name.isdigit() else (1, 0, p.name))


def _job_row(job_dir: Path) -> dict[str, Any]:
    summary = _read_json(job_dir / "summary.json") or {}
    status_file = _read_json(job_dir / "status.json") or {}
    history = summary.get("history") or []
    monitor = summary.get("monitor")
    last = history[-1] if history else {}
    plan = summary.get("plan") or {}
    epochs = summary.get("epochs_run")
    status = status_file.get("status") or summary.get("status") or ("completed" if summary else "unknown")
    fit_seconds = summary.get("fit_seconds")
    return {
        "job": job_dir.name,
        "status": status,
        "overrides": " ".join(_read_overrides(job_dir)),
        "monitor": monitor,
        "best": summary.get("best_value"),
        "best_epoch": summary.get("best_epoch"),
        "final": last.get(monitor) if monitor else None,
        "final_val_loss": last.get("val/loss"),
        "final_train_loss": last.get("train/loss"),
        "epochs": epochs,
        "iterations_per_epoch": plan.get("iterations_per_epoch"),
        "global_batch_size": plan.get("global_batch_size"),
        "optimizer_steps": summary.get("global_step"),
        "fit_seconds": fit_seconds,
        "seconds_per_epoch": fit_seconds / epochs if fit_seconds and epochs else None,
        "wall_seconds": summary.get("wall_seconds"),
        "test": " ".join(f"{k}={v:.4g}" for k, v in sorted((summary.get("test") or {}).items())),
        "test_metrics": dict(summary.get("test") or {}),
        "run_dir": str(job_dir),
        "error": status_file.get("error")
        or ("no summary.json: the job did not finish" if not summary else ""),
        "history": history,
    }


def collect_jobs(sweep_dir: str | Path) -> list[dict[str, Any]]:
    """One dict per job (the report's columns plus the per-epoch ``history``)."""
    return [_job_row(d) for d in job_dirs(Path(sweep_dir))]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("|", "\\|")


def write_csv(jobs: list[dict[str, Any]], path: Path) -> None:
    """The report's columns, then one column per test metric any job has (empty where a job has none)."""
    tests = sorted({name for job in jobs for name in job.get("test_metrics", {})})
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[*COLUMNS, *tests], extrasaction="ignore")
        writer.writeheader()
        writer.writerows({**job, **job.get("test_metrics", {})} for job in jobs)


MD_COLUMNS = (
    ("job", "job"),
    ("status", "status"),
    ("overrides", "overrides"),
    ("best", "best {monitor}"),
    ("best_epoch", "at epoch"),
    ("final_val_loss", "final val/loss"),
    ("final_train_loss", "final train/loss"),
    ("epochs", "epochs"),
    ("iterations_per_epoch", "iterations/epoch"),
    ("optimizer_steps", "optimizer steps"),
    ("fit_seconds", "fit s"),
    ("seconds_per_epoch", "s/epoch"),
    ("wall_seconds", "wall s"),
)


def split_overrides(jobs: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """Overrides every job shares, and per job the ones that vary (what the sweep compares)."""
    words = [j["overrides"].split() for j in jobs]
    common = [w for w in words[0] if all(w in other for other in words[1:])] if len(words) > 1 else []
    return common, [" ".join(w for w in ws if w not in common) for ws in words]


def markdown(jobs: list[dict[str, Any]], sweep_dir: Path) -> str:
    monitor = next((j["monitor"] for j in jobs if j["monitor"]), "monitored metric")
    done = sum(j["status"] == "completed" for j in jobs)
    common, varying = split_overrides(jobs)
    jobs = [{**job, "overrides": v} for job, v in zip(jobs, varying, strict=True)]
    lines = [
        f"# Sweep report: {sweep_dir.name}",
        "",
        f"{len(jobs)} jobs, {done} completed. Sweep directory: `{sweep_dir}`",
        "",
        f"Shared by all jobs: `{' '.join(common)}`" if common else "",
        "",
        "| " + " | ".join(title.format(monitor=monitor) for _, title in MD_COLUMNS) + " |",
        "|" + "---|" * len(MD_COLUMNS),
    ]
    lines += ["| " + " | ".join(_cell(job[key]) for key, _ in MD_COLUMNS) + " |" for job in jobs]
    failed = [j for j in jobs if j["status"] != "completed"]
    if failed:
        lines += ["", "## Jobs that did not complete", ""]
        lines += [f"- job {j['job']} ({j['status']}): {j['error']} (`{j['overrides']}`)" for j in failed]
    tests = [j for j in jobs if j["test"]]
    if tests:
        lines += ["", "## Test metrics (best checkpoint)", ""]
        lines += [f"- job {j['job']}: {j['test']}" for j in tests]
    lines += ["", "![validation loss and monitored metric per epoch](report.png)", ""]
    return "\n".join(lines)


def report_figure(jobs: list[dict[str, Any]]) -> Any | None:
    """Validation loss per epoch, the monitored metric per epoch and validation loss per fit second
    (epoch axes with integer ticks); None when no job has a history."""
    _, varying = split_overrides(jobs) if jobs else ([], [])
    curves = [{**j, "overrides": v} for j, v in zip(jobs, varying, strict=True) if j["history"]]
    if not curves:
        return None
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    monitor = next((j["monitor"] for j in curves if j["monitor"]), None)
    panels = [("epoch", "val/loss"), ("epoch", monitor), ("seconds", "val/loss")]
    fig = Figure(figsize=(13, 3.8))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 3)
    for ax, (x_key, y_key) in zip(axes, panels, strict=True):
        for job in curves:
            points = [(r[x_key], r[y_key]) for r in job["history"] if r.get(y_key) is not None]
            if points:
                xs, ys = zip(*points, strict=True)
                label = f"{job['job']}: {job['overrides'] or 'defaults'}"
                ax.plot(xs, ys, marker="o" if len(xs) < 30 else None, markersize=3, label=label[:60])
        ax.set_xlabel("epoch" if x_key == "epoch" else "fit time (s)")
        if x_key == "epoch":
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if x_key == "seconds" and _spread(curves) > 30:  # e.g. batch size 1 vs. full batch
            ax.set_xscale("log")
            ax.set_xlabel("fit time (s, log scale)")
        ax.set_ylabel(y_key or "")
        ax.grid(alpha=0.3)
    axes[0].set_title("validation loss per epoch")
    axes[1].set_title(f"{monitor} per epoch")
    axes[2].set_title("validation loss per wall-clock second")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(3, len(labels)), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.06 + 0.045 * ((len(labels) - 1) // 3), 1, 1))
    return fig


def plot(jobs: list[dict[str, Any]], path: Path) -> bool:
    """report.png (see :func:`report_figure`); False when there is nothing to draw."""
    fig = report_figure(jobs)
    if fig is None:
        return False
    fig.savefig(path, dpi=90)
    return True


def _spread(jobs: list[dict[str, Any]]) -> float:
    times = [r["seconds"] for j in jobs for r in j["history"] if r.get("seconds")]
    return max(times) / min(times) if times and min(times) > 0 else 1.0


def write_report(sweep_dir: str | Path, plot_curves: bool = True) -> list[dict[str, Any]]:
    """Write report.csv, report.md (and report.png) into ``sweep_dir``; returns the jobs."""
    sweep_dir = Path(sweep_dir)
    jobs = collect_jobs(sweep_dir)
    write_csv(jobs, sweep_dir / "report.csv")
    (sweep_dir / "report.md").write_text(markdown(jobs, sweep_dir))
    if plot_curves:
        plot(jobs, sweep_dir / "report.png")
    return jobs
