"""``make bench``: run every measurement, alternating the compared sides, and write Markdown + JSON.

python -m benchmarks [--quick] [--repeats N] [--device auto|cpu|cuda]
                                         [--threads N] [--out benchmarks/results] [--skip startup,data]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

SECTIONS = ("overhead", "data", "images", "startup", "deploy")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="The template against a hand-written PyTorch loop: per-step overhead, data loading, "
        "start-up. Sides alternate; medians and ratios go to Markdown and JSON.",
    )
    parser.add_argument("--quick", action="store_true", help="seconds, not minutes: checks it runs (CI)")
    parser.add_argument("--repeats", type=int, default=None, help="runs per side (default 5, quick 1)")
    parser.add_argument(
        "--epochs", type=int, default=None, help="epochs per training run (default 10, quick 2)"
    )
    parser.add_argument(
        "--device", default="auto", choices=("auto", "cpu", "cuda"), help="auto: cuda if present"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's own)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"), help="folder for the results")
    parser.add_argument("--skip", default="", help=f"comma-separated sections to skip: {', '.join(SECTIONS)}")
    # template-only
    parser.add_argument(
        "--peer",
        type=Path,
        default=None,
        help="a lightning-hydra-template checkout (its requirements importable): start-up times its "
        "`src/train.py debug=fdr` against ours",
    )
    # /template-only
    args = parser.parse_args(argv)
    args.repeats = args.repeats or (1 if args.quick else 5)
    args.epochs = args.epochs or (2 if args.quick else 10)
    args.skip = {s for s in args.skip.split(",") if s}
    # template-only
    if args.peer is not None:
        from benchmarks.peer import check_peer_dir

        if problem := check_peer_dir(args.peer):
            parser.error(f"--peer: {problem}")
    # /template-only
    if unknown := args.skip - set(SECTIONS):
        parser.error(
            f"--skip: unknown section(s) {', '.join(sorted(unknown))}; allowed: {', '.join(SECTIONS)}"
        )
    return args


def alternate(
    sides: dict[str, Callable[[], Any]], repeats: int, warmup: bool = False
) -> dict[str, list[Any]]:
    """Run every side ``repeats`` times, reversing the order on every other round, so that slow drifts
    of a shared machine hit all sides alike. ``warmup`` runs each side once first, untimed (lazy
    imports and first-call caches are start-up, measured elsewhere)."""
    results: dict[str, list[Any]] = {name: [] for name in sides}
    names = list(sides)
    if warmup:
        for name in names:
            sides[name]()
    for round_ in range(repeats):
        for name in names if round_ % 2 == 0 else reversed(names):
            results[name].append(sides[name]())
    return results


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


# example:digits
def _experiments_for_tasks() -> list[str]:
    """Regression and segmentation experiments, when the project has them."""
    from lightning_hydra_template.config.overrides import group_options

    return [name for name in group_options("experiment") if "regress" in name or "segment" in name]


def bench_overhead(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    from benchmarks import overhead as o

    device = args.device
    accel = "trainer.accelerator=gpu" if device == "cuda" else "trainer.accelerator=cpu"
    common = (f"trainer.max_epochs={args.epochs}", accel)
    report: dict[str, Any] = {}

    # 1. The baseline as a user runs it (callbacks, CSV logger, checkpoints, progress lines).
    baseline = ("experiment=baseline", *common, "test=false")
    runs = alternate(
        {
            "hand": lambda: o.run_handwritten(baseline, workdir, device),
            "template": lambda: o.run_template(baseline, workdir),
        },
        args.repeats,
        warmup=not args.quick,
    )
    report["baseline"] = _ratio_rows(runs, "hand", "template")

    # 2. A tiny MLP (64-128-10), where framework overhead shows most: template vs barebones vs hand.
    tiny = (*baseline, *o.TINY_MLP)
    runs = alternate(
        {
            "hand": lambda: o.run_handwritten(tiny, workdir, device),
            "barebones": lambda: o.run_barebones(tiny, workdir, device),
            "template": lambda: o.run_template(tiny, workdir),
        },
        args.repeats,
        warmup=True,
    )
    rows = _ratio_rows(runs, "hand", "template")
    hand = rows["hand_step_ms"]
    bare = median([r.step_ms for r in runs["barebones"]])
    rows["barebones_step_ms"] = bare
    rows["overhead_vs_barebones"] = (
        (rows["template_step_ms"] - hand) / (bare - hand) if bare > hand else math.nan
    )
    hand_cpu, bare_cpu = rows["hand_cpu_step_ms"], median([r.cpu_step_ms for r in runs["barebones"]])
    rows["barebones_cpu_step_ms"] = bare_cpu
    rows["cpu_overhead_vs_barebones"] = (
        (rows["template_cpu_step_ms"] - hand_cpu) / (bare_cpu - hand_cpu) if bare_cpu > hand_cpu else math.nan
    )
    report["tiny_mlp"] = rows

    # 3. Step-level logging (loss, LR, samples/s every trainer.log_every_n_steps) at the default interval,
    #    against the same run with an interval beyond its last step: the cost of the logging points.
    runs = alternate(
        {
            "no_step_logging": lambda: o.run_template((*tiny, o.NO_STEP_LOGGING), workdir),
            "step_logging": lambda: o.run_template(tiny, workdir),
        },
        args.repeats,
        warmup=not args.quick,
    )
    report["step_logging"] = _ratio_rows(runs, "no_step_logging", "step_logging")
    report["step_logging"]["log_every_n_steps"] = o.default_log_every_n_steps()

    # 4. Per-step time of the task experiments that exist (a few epochs suffice for a per-step figure).
    for experiment in [] if args.quick else _experiments_for_tasks():
        overrides = (
            f"experiment={experiment}",
            f"trainer.max_epochs={min(args.epochs, 3)}",
            accel,
            "test=false",
        )
        runs = alternate({"template": lambda ov=overrides: o.run_template(ov, workdir)}, min(args.repeats, 3))
        report[experiment] = {
            "template_step_ms": median([r.step_ms for r in runs["template"]]),
            "template_fit_step_ms": median([r.fit_step_ms for r in runs["template"]]),
            "steps": runs["template"][0].steps,
        }
    return report


def _ratio_rows(runs: dict[str, list[Any]], base: str, other: str) -> dict[str, Any]:
    b_step, o_step = median([r.step_ms for r in runs[base]]), median([r.step_ms for r in runs[other]])
    b_fit, o_fit = median([r.fit_step_ms for r in runs[base]]), median([r.fit_step_ms for r in runs[other]])
    b_cpu, o_cpu = median([r.cpu_step_ms for r in runs[base]]), median([r.cpu_step_ms for r in runs[other]])
    return {
        f"{base}_cpu_step_ms": b_cpu,
        f"{other}_cpu_step_ms": o_cpu,
        "cpu_step_ratio": o_cpu / b_cpu if b_cpu else math.nan,
        f"{base}_step_ms": b_step,
        f"{other}_step_ms": o_step,
        f"{base}_fit_step_ms": b_fit,
        f"{other}_fit_step_ms": o_fit,
        "step_ratio": o_step / b_step,
        "fit_ratio": o_fit / b_fit,
        "steps": runs[other][0].steps,
        "runs": {name: [round(r.fit_step_ms, 4) for r in values] for name, values in runs.items()},
    }


def bench_data(args: argparse.Namespace) -> dict[str, Any]:
    from benchmarks import data as d

    device = args.device
    inputs, targets = d.digits_train_split()
    on_device = (inputs.to(device), targets.to(device))
    epochs = 3 if args.quick else 20
    report: dict[str, Any] = {}
    for batch_size in (64,) if args.quick else (16, 64, 256):
        runs = alternate(
            {
                "in_memory": lambda bs=batch_size: d.batches_per_second(
                    d.in_memory_loader(on_device, bs), epochs, device
                ),
                "dataloader": lambda bs=batch_size: d.batches_per_second(
                    d.torch_dataloader((inputs, targets), bs), epochs, device
                ),
            },
            args.repeats,
        )
        fast, slow = median(runs["in_memory"]), median(runs["dataloader"])
        report[f"batch_{batch_size}"] = {
            "in_memory_batches_per_s": fast,
            "dataloader_batches_per_s": slow,
            "speedup": fast / slow,
        }
    return report


# /example:digits


# example:image_folder
def bench_images(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """experiment=image_folder's loader and training against a hand-written DataLoader and loop."""
    from benchmarks import data_pipeline as p

    accel = "trainer.accelerator=gpu" if args.device == "cuda" else "trainer.accelerator=cpu"
    per_class, epochs = (60, 1) if args.quick else (600, 3)
    overrides = p.image_folder_overrides(workdir / "data", per_class, epochs, accel)
    datamodule = p.template_datamodule(p.compose(overrides, workdir))  # writes the images once
    loaders = alternate(
        {
            "hand": lambda: p.images_per_second(p.hand_loader(datamodule), epochs),
            "template": lambda: p.images_per_second(datamodule.train_dataloader(), epochs),
        },
        args.repeats,
    )
    runs = alternate(
        {
            "hand": lambda: p.run_hand(overrides, workdir, args.device),
            "template": lambda: p.run_template(overrides, workdir),
        },
        args.repeats,
        warmup=not args.quick,
    )
    hand_ips, template_ips = median(loaders["hand"]), median(loaders["template"])
    hand_sps = 1000.0 / median([r.step_ms for r in runs["hand"]])
    template_sps = 1000.0 / median([r.step_ms for r in runs["template"]])
    return {
        "num_workers": datamodule.num_workers,
        "train_images": len(datamodule.datasets["train"]),
        "batch_size": datamodule.batch_size,
        "hand_images_per_s": hand_ips,
        "template_images_per_s": template_ips,
        "loader_ratio": template_ips / hand_ips,
        "hand_steps_per_s": hand_sps,
        "template_steps_per_s": template_sps,
        "steps_ratio": template_sps / hand_sps,
        "runs": {
            "loader": {k: [round(v, 1) for v in vals] for k, vals in loaders.items()},
            "train_step_ms": {k: [round(r.step_ms, 2) for r in vals] for k, vals in runs.items()},
        },
    }


# /example:image_folder


def bench_startup(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    from benchmarks import startup as s

    report: dict[str, Any] = {}
    for flag in ("--help", "--cfg job"):
        key = flag.strip("-").replace(" ", "_")
        report[f"{key}_seconds"] = median(
            alternate({flag: lambda f=flag: s.cli_seconds(f, workdir)}, args.repeats)[flag]
        )
        report[f"{key}_imports_torch"] = s.imports_torch(flag, workdir)
    accel = ("trainer.accelerator=gpu",) if args.device == "cuda" else ("trainer.accelerator=cpu",)
    sides: dict[str, Callable[[], Any]] = {
        "import_lightning": lambda: s.import_lightning_time(workdir),
        "fdr": lambda: s.fdr_time(workdir, accel),
    }
    if not args.quick:
        sides["first_step"] = lambda: s.first_step_seconds(workdir, accel)
    # template-only
    if args.peer is not None:
        from benchmarks import peer

        mnist = peer.write_mnist(workdir / "peer-data")
        sides["peer_fdr"] = lambda: peer.peer_fdr_time(args.peer, workdir, mnist)
    # /template-only
    runs = alternate(sides, args.repeats)
    for name in ("import_lightning", "fdr"):
        report[f"{name}_seconds"] = median([t.wall for t in runs[name]])
        report[f"{name}_cpu_seconds"] = median([t.cpu for t in runs[name]])
    report["fdr_ratio"] = report["fdr_seconds"] / report["import_lightning_seconds"]
    report["fdr_cpu_ratio"] = report["fdr_cpu_seconds"] / report["import_lightning_cpu_seconds"]
    report["runs"] = {
        f"{name}_seconds": [round(t.wall, 3) for t in runs[name]] for name in ("import_lightning", "fdr")
    }
    # template-only
    if "peer_fdr" in runs:
        report["peer_fdr_seconds"] = median([t.wall for t in runs["peer_fdr"]])
        report["peer_fdr_cpu_seconds"] = median([t.cpu for t in runs["peer_fdr"]])
        report["fdr_vs_peer_ratio"] = report["fdr_seconds"] / report["peer_fdr_seconds"]
        report["fdr_vs_peer_cpu_ratio"] = report["fdr_cpu_seconds"] / report["peer_fdr_cpu_seconds"]
        report["runs"]["peer_fdr_seconds"] = [round(t.wall, 3) for t in runs["peer_fdr"]]
    # /template-only
    if "first_step" in runs:
        report["first_step_seconds"] = median(runs["first_step"])
        report["first_step_ratio"] = report["first_step_seconds"] / report["import_lightning_seconds"]
        report["runs"]["first_step_seconds"] = [round(v, 3) for v in runs["first_step"]]
    return report


def bench_deploy(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """make predict's loop vs a hand-written inference_mode loop; ONNX (onnxruntime) vs eager latency."""
    from benchmarks import deploy as d
    from lightning_hydra_template.deploy.export import export_trained, exported_runner
    from lightning_hydra_template.deploy.inputs import held_out_inputs
    from lightning_hydra_template.deploy.loading import load_trained

    ckpt = d.trained_checkpoint(workdir, epochs=1)
    trained = load_trained(ckpt)
    model = trained.model
    trainer_cfg = d.predict_trainer_config(workdir, ckpt)
    test_inputs = held_out_inputs(trained.datamodule).inputs
    copies = 4 if args.quick else 80  # the test split repeated (270 digits: about 1k / 22k samples)
    inputs = test_inputs.repeat(copies, *[1] * (test_inputs.dim() - 1))
    runs = alternate(
        {
            "template": lambda: d.samples_per_second(
                d.template_predict(trainer_cfg, model, inputs, 256), len(inputs)
            ),
            "hand": lambda: d.samples_per_second(d.hand_predict(model, inputs, 256), len(inputs)),
        },
        args.repeats,
        warmup=True,
    )
    report: dict[str, Any] = {
        "predict_samples": len(inputs),
        "template_samples_per_s": median(runs["template"]),
        "hand_samples_per_s": median(runs["hand"]),
    }
    report["predict_ratio"] = report["hand_samples_per_s"] / report["template_samples_per_s"]
    # the two sides of a round run back to back: on a shared machine their ratio drifts less than either
    report["predict_ratio_paired"] = median(
        [h / t for t, h in zip(runs["template"], runs["hand"], strict=True)]
    )
    path, _ = export_trained(trained, "onnx", workdir, test_inputs[:64].float(), tolerance=1e-4)
    onnx = exported_runner(path, "onnx")
    calls = 20 if args.quick else 300
    for batch in (1, 64):
        x = test_inputs[:batch].contiguous()
        eager = lambda x=x: d.hand_predict(model, x, len(x))()  # noqa: E731
        exported = lambda x=x: onnx(x.numpy())  # noqa: E731
        lat = alternate(
            {
                "eager": lambda e=eager: d.latency_ms(e, calls),
                "onnx": lambda o=exported: d.latency_ms(o, calls),
            },
            args.repeats,
        )
        report[f"batch_{batch}"] = {"eager_ms": median(lat["eager"]), "onnx_ms": median(lat["onnx"])}
    return report


def environment(args: argparse.Namespace) -> dict[str, Any]:
    import os

    import torch

    info = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "device": args.device,
        "torch_threads": torch.get_num_threads(),
        "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "quick": args.quick,
        "repeats": args.repeats,
        "epochs": args.epochs,
    }
    if args.device == "cuda":
        info["gpu"] = torch.cuda.get_device_name()
    return info


def to_markdown(results: dict[str, Any]) -> str:
    env = results["environment"]
    lines = [
        "# Benchmark",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M', time.localtime(results['started']))} · device {env['device']}"
        f" · torch {env['torch']} · {env['torch_threads']} torch threads · {env['cpus']} CPUs"
        f" · load {env['load_average']} · {'quick' if env['quick'] else 'full'} mode"
        f" · medians of {env['repeats']} alternating runs · {env['epochs']} epochs per training run",
        "",
    ]
    if overhead := results.get("overhead"):
        lines += [
            "## Overhead: template vs hand-written PyTorch loop (same math)",
            "",
            "| case | hand ms/step | barebones ms/step | template ms/step | ratio (train) "
            "| hand ms/step, fit | template ms/step, fit | ratio (fit) |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for case, row in overhead.items():
            if case == "step_logging":
                continue  # its own line below
            if "hand_step_ms" not in row:
                lines.append(
                    f"| {case} | | | {row['template_step_ms']:.3f} | | | {row['template_fit_step_ms']:.3f} | |"
                )
                continue
            bare = f"{row['barebones_step_ms']:.3f}" if "barebones_step_ms" in row else ""
            lines.append(
                f"| {case} | {row['hand_step_ms']:.3f} | {bare} | {row['template_step_ms']:.3f} "
                f"| {row['step_ratio']:.3f} | {row['hand_fit_step_ms']:.3f} | {row['template_fit_step_ms']:.3f} "
                f"| {row['fit_ratio']:.3f} |"
            )
        if "tiny_mlp" in overhead:
            tiny = overhead["tiny_mlp"]
            lines += [
                "",
                f"Tiny MLP: the template adds {tiny['overhead_vs_barebones']:.2f}x the per-step overhead that "
                "`Trainer(barebones=True)` adds over the hand-written loop (wall time; "
                f"{tiny['cpu_overhead_vs_barebones']:.2f}x in process CPU time: hand "
                f"{tiny['hand_cpu_step_ms']:.3f}, barebones {tiny['barebones_cpu_step_ms']:.3f}, template "
                f"{tiny['template_cpu_step_ms']:.3f} ms/step).",
            ]
        if logging := overhead.get("step_logging"):
            lines += [
                "",
                f"Step-level logging every {logging['log_every_n_steps']} steps (the default) on the tiny MLP: "
                f"{logging['step_logging_step_ms']:.3f} ms/step against {logging['no_step_logging_step_ms']:.3f} "
                f"without logging points, ratio {logging['step_ratio']:.3f} (train), {logging['fit_ratio']:.3f} "
                f"(fit), {logging['cpu_step_ratio']:.3f} (CPU time).",
            ]
        lines += ["", "Training phase in process CPU time (steadier on a busy machine):", ""]
        for case, row in overhead.items():
            if "hand_cpu_step_ms" in row:
                lines.append(
                    f"- {case}: hand {row['hand_cpu_step_ms']:.3f}, template {row['template_cpu_step_ms']:.3f} "
                    f"ms/step, ratio {row['cpu_step_ratio']:.3f}"
                )
        lines += [
            "",
            "*train*: the training part of each epoch (steps only); *fit*: the whole fit, with validation "
            "after every epoch and checkpoint writing (the hand loop saves network + optimizer state per epoch).",
            "",
        ]
    if data := results.get("data"):
        lines += [
            "## Data: batches per second, the in-memory training split, shuffled",
            "",
            "| batch size | InMemoryLoader | DataLoader(TensorDataset) | speed-up |",
            "|---|---|---|---|",
        ]
        for key, row in data.items():
            lines.append(
                f"| {key.split('_')[1]} | {row['in_memory_batches_per_s']:.0f} "
                f"| {row['dataloader_batches_per_s']:.0f} | {row['speedup']:.1f}x |"
            )
        lines.append("")
    if images := results.get("images"):
        lines += [
            f"## Images on disk: experiment=image_folder, {images['train_images']} training PNGs, "
            f"batch {images['batch_size']}, {images['num_workers']} DataLoader workers",
            "",
            "| what | hand-written | template | template / hand |",
            "|---|---|---|---|",
            f"| training loader, images/s | {images['hand_images_per_s']:.0f} "
            f"| {images['template_images_per_s']:.0f} | {images['loader_ratio']:.3f} |",
            f"| training, optimizer steps/s | {images['hand_steps_per_s']:.2f} "
            f"| {images['template_steps_per_s']:.2f} | {images['steps_ratio']:.3f} |",
            "",
            "Hand-written: `DataLoader(shuffle=True)` over a dataset that decodes each file and applies the same "
            "transforms, and a plain training loop with the same network and optimizer. Template: the "
            "datamodule's `StatefulDataLoader` (seeded per-sample augmentation, resumable) and `train()`.",
            "",
        ]
    if startup := results.get("startup"):
        lines += ["## Start-up", "", "| what | seconds | note |", "|---|---|---|"]
        if "fdr_seconds" in startup:
            lines += [
                f'| `python -c "import lightning"` | {startup["import_lightning_seconds"]:.2f} '
                f"| the floor; {startup['import_lightning_cpu_seconds']:.2f} s CPU |",
                f"| `train debug=fdr`, the whole process | {startup['fdr_seconds']:.2f} "
                f"| {startup['fdr_ratio']:.2f}x import lightning; {startup['fdr_cpu_seconds']:.2f} s CPU, "
                f"{startup['fdr_cpu_ratio']:.2f}x |",
            ]
        # template-only
        if "peer_fdr_seconds" in startup:
            lines.append(
                f"| lightning-hydra-template's `src/train.py debug=fdr` | {startup['peer_fdr_seconds']:.2f} "
                f"| ours is {startup['fdr_vs_peer_ratio']:.2f}x its wall time; {startup['peer_fdr_cpu_seconds']:.2f} s "
                f"CPU, ours {startup['fdr_vs_peer_cpu_ratio']:.2f}x |"
            )
        # /template-only
        if "first_step_seconds" in startup:
            lines.append(
                f"| `train experiment=baseline` to the first optimizer step | {startup['first_step_seconds']:.2f} "
                f"| {startup['first_step_ratio']:.2f}x import lightning |"
            )
        for key, label in (("help", "`train --help`"), ("cfg_job", "`train --cfg job`")):
            torch_note = "imports torch" if startup[f"{key}_imports_torch"] else "no torch import"
            lines.append(f"| {label} | {startup[f'{key}_seconds']:.2f} | {torch_note} |")
        lines.append("")
    if deploy := results.get("deploy"):
        lines += [
            "## Predict and export",
            "",
            f"`make predict`'s loop (its Trainer built, as every prediction does, then Trainer.predict) vs "
            f"a hand-written `torch.inference_mode()` loop over "
            f"{deploy['predict_samples']} test samples at batch 256: {deploy['template_samples_per_s']:,.0f} vs "
            f"{deploy['hand_samples_per_s']:,.0f} samples/s ({deploy['predict_ratio']:.2f}x; median of the "
            f"rounds' ratios {deploy['predict_ratio_paired']:.2f}x).",
            "",
            "| batch | eager PyTorch ms | ONNX Runtime (CPU) ms | ONNX samples/s |",
            "|---|---|---|---|",
        ]
        for batch in (1, 64):
            row = deploy[f"batch_{batch}"]
            lines.append(
                f"| {batch} | {row['eager_ms']:.3f} | {row['onnx_ms']:.3f} | {batch / row['onnx_ms'] * 1000:,.0f} |"
            )
        lines.append("")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    import torch

    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.device == "cuda" and not torch.cuda.is_available():
        print(
            "error: --device: cuda requested but no CUDA GPU is visible; allowed: auto, cpu", file=sys.stderr
        )
        raise SystemExit(2)
    if args.threads:
        torch.set_num_threads(args.threads)
    results: dict[str, Any] = {"started": time.time(), "environment": environment(args)}
    with tempfile.TemporaryDirectory(prefix="lht-bench-") as tmp:
        workdir = Path(tmp)
        if "startup" not in args.skip:  # first: the other sections warm caches it should not see
            print("start-up ...", flush=True)
            results["startup"] = bench_startup(args, workdir)
        # example:digits
        if "data" not in args.skip:
            print("data ...", flush=True)
            results["data"] = bench_data(args)
        # /example:digits
        # example:image_folder
        if "images" not in args.skip:
            print("images ...", flush=True)
            results["images"] = bench_images(args, workdir)
        # /example:image_folder
        # example:digits
        if "overhead" not in args.skip:
            print("overhead ...", flush=True)
            results["overhead"] = bench_overhead(args, workdir)
        # /example:digits
        if "deploy" not in args.skip:
            print("predict and export ...", flush=True)
            results["deploy"] = bench_deploy(args, workdir)
    results["seconds"] = time.time() - results["started"]
    markdown = to_markdown(results)
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(results["started"]))
    for name in (f"bench-{stamp}", "latest"):
        (args.out / f"{name}.json").write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
        (args.out / f"{name}.md").write_text(markdown + "\n")
    print(markdown)
    print(f"written to {args.out / f'bench-{stamp}.md'} and .json ({results['seconds']:.0f} s)")
    return results


if __name__ == "__main__":
    main()
