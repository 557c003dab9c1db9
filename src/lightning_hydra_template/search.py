"""Hyperparameter search with Optuna: one trial = one training run composed from the Hydra configs.

    make search hparams_search=<name>
    make search hparams_search=<name> search.n_trials=40 trainer.max_epochs=20
    python -m lightning_hydra_template.search hparams_search=<name> search.worker_index=1   # a 2nd worker

The study lives in ``search.storage`` (default: an SQLite file in the search directory
``<log dir>/search/<study_name>/``), so rerunning the same command continues it and several workers
pointed at the same storage share it. Each trial trains in-process in ``<search dir>/<trial number>/``
(summary.json, checkpoints, .hydra/config.yaml) and is scored on the validation split only;
unpromising trials are pruned after a validation epoch. ``best_params.yaml`` (with the ``make train``
command that reproduces the best trial), ``trials.csv`` and the sweep report are written to the search
directory. At the end the best trial's checkpoint is tested once on the test split (``test=false``:
not at all), and that number is reported as such, apart from the validation values that chose it.
"""

from __future__ import annotations

import csv
import json
import math
import shlex
import sys
from pathlib import Path
from typing import Any, cast

from omegaconf import DictConfig, OmegaConf

from lightning_hydra_template.config.errors import ConfigError, UserError, fail, user_errors
from lightning_hydra_template.config.secrets import (
    load_dotenv,
    redact,
    redact_files,
    redact_text,
    register_config_secrets,
    register_override_secrets,
)

PARAM_TYPES = ("float", "int", "categorical")
_FINISHED_STATES = ("COMPLETE", "PRUNED")
BEST_TEST_FILE = "best_trial_test.json"
# Trials are compared on validation data only; the test split is used once, for the best trial.
TRIAL_OVERRIDES = ("test=false",)


def search_space(cfg: DictConfig) -> dict[str, dict[str, Any]]:
    """The ``search.params`` mapping, checked: ``key: {type, low, high, log, step} | {type, choices}``."""
    params = cfg.search.get("params")
    if not params:
        raise ConfigError(
            "search.params", "is empty; allowed: <config key>: {type: float|int|categorical, ...}"
        )
    space = {}
    for key, spec in cast(dict[str, Any], OmegaConf.to_container(params, resolve=True)).items():
        field = f"search.params.{key}"
        if not isinstance(spec, dict) or spec.get("type") not in PARAM_TYPES:
            raise ConfigError(field, f"got {spec!r}; allowed: a mapping with type: {', '.join(PARAM_TYPES)}")
        if spec["type"] == "categorical":
            if not spec.get("choices"):
                raise ConfigError(field, "categorical needs a non-empty list; allowed: choices: [a, b, ...]")
        elif not (isinstance(spec.get("low"), (int, float)) and isinstance(spec.get("high"), (int, float))):
            raise ConfigError(
                field, "needs numbers low and high; allowed: {type: float, low: 0.001, high: 0.1}"
            )
        elif spec["low"] >= spec["high"]:
            raise ConfigError(
                field, f"low {spec['low']} is not below high {spec['high']}; allowed: low < high"
            )
        space[str(key)] = spec
    return space


def suggest(trial: Any, space: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Draw one value per parameter from the trial."""
    values = {}
    for key, spec in space.items():
        if spec["type"] == "float":
            values[key] = trial.suggest_float(
                key, spec["low"], spec["high"], log=bool(spec.get("log", False))
            )
        elif spec["type"] == "int":
            values[key] = trial.suggest_int(
                key,
                int(spec["low"]),
                int(spec["high"]),
                step=int(spec.get("step", 1)),
                log=bool(spec.get("log")),
            )
        else:
            values[key] = trial.suggest_categorical(key, list(spec["choices"]))
    return values


def as_overrides(values: dict[str, Any]) -> list[str]:
    return [f"{key}={value}" for key, value in values.items()]


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def reproducing_overrides(search_overrides: list[str], params: dict[str, Any]) -> list[str]:
    """The ``make train`` overrides that train a trial again: the search command's own overrides
    (``hparams_search=<name>`` included; the ``search.*`` settings changed nothing in training) and the
    trial's values."""
    kept = [o for o in search_overrides if not _key(o).startswith("search.")]
    return [*kept, *as_overrides(params)]


def search_dir(cfg: DictConfig) -> Path:
    return Path(cfg.paths.log_dir) / "search" / str(cfg.search.study_name)


def storage_url(cfg: DictConfig, directory: Path) -> str:
    return cfg.search.get("storage") or f"sqlite:///{(directory / 'optuna.db').resolve()}"


def open_storage(url: str, attempts: int = 5) -> Any:
    """An Optuna RDB storage; workers started together may race to create the schema, so retry."""
    import time

    import optuna
    from sqlalchemy.exc import SQLAlchemyError

    # SQLite: wait for a busy file (another worker writing) instead of failing at once
    engine_kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    for attempt in range(attempts):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs)
        except SQLAlchemyError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


class OptunaPruning:
    """Lightning callback: report the monitored metric after every validation epoch; stop the trial
    when the pruner says it cannot catch up. (Built lazily so this module imports without Lightning.)"""

    def __new__(cls, trial: Any, monitor: str) -> Any:
        return _pruning_callback_class()(trial, monitor)


def _pruning_callback_class() -> type:
    import optuna
    from lightning.pytorch import Callback

    class _OptunaPruning(Callback):
        def __init__(self, trial: optuna.Trial, monitor: str) -> None:
            self.trial = trial
            self.monitor = monitor
            self.reported: list[tuple[int, float]] = []

        def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
            if trainer.sanity_checking or self.monitor not in trainer.callback_metrics:
                return
            epoch = trainer.current_epoch + 1
            value = float(trainer.callback_metrics[self.monitor])
            self.trial.report(value, step=epoch)
            self.reported.append((epoch, value))
            if self.trial.should_prune():
                raise optuna.TrialPruned(f"{self.monitor} {value:.4f} at epoch {epoch}")

    return _OptunaPruning


def compose_trial(config_overrides: list[str], trial_dir: Path | None = None) -> DictConfig:
    """Compose the train config as the CLI would, with ``trial_dir`` (if given) as its run directory."""
    from lightning_hydra_template.config.compose import compose_run_config

    job_num = int(trial_dir.name) if trial_dir is not None and trial_dir.name.isdigit() else 0
    cfg = compose_run_config(config_overrides, trial_dir, job_num=job_num)
    if trial_dir is None:
        return cfg
    hydra_dir = trial_dir / ".hydra"
    hydra_dir.mkdir(exist_ok=True)
    OmegaConf.save(OmegaConf.create(config_overrides), hydra_dir / "overrides.yaml")
    job_cfg = OmegaConf.masked_copy(cfg, [str(k) for k in cfg if k != "hydra"])
    OmegaConf.save(job_cfg, hydra_dir / "config.yaml", resolve=True)
    redact_files(hydra_dir.glob("*.yaml"))  # before the trial's checks, which may fail
    return cfg


def write_results(
    study: Any, directory: Path, space: dict[str, dict[str, Any]], search_overrides: list[str]
) -> None:
    """trials.csv (every trial of the study) and best_params.yaml (values, the overrides and command
    that reproduce the best trial, and its test metrics once measured)."""
    trials = study.get_trials(deepcopy=False)
    names = list(space)
    with (directory / "trials.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["number", "state", "value", *names, "last_epoch", "seconds", "worker"])
        for t in trials:
            seconds = (
                (t.datetime_complete - t.datetime_start).total_seconds() if t.datetime_complete else None
            )
            last_epoch = max(t.intermediate_values) if t.intermediate_values else None
            writer.writerow(
                [t.number, t.state.name, t.value, *(t.params.get(n) for n in names), last_epoch, seconds]
                + [t.user_attrs.get("worker")]
            )
    completed = [t for t in trials if t.state.name == "COMPLETE"]
    if completed:
        best = study.best_trial
        overrides = reproducing_overrides(search_overrides, best.params)
        best_doc = {
            "study": study.study_name,
            "trial": best.number,
            "value": best.value,  # the monitored validation metric that chose this trial
            "params": dict(best.params),
            "overrides": overrides,
            "command": "make train " + " ".join(shlex.quote(o) for o in overrides),
            "run_dir": best.user_attrs.get("run_dir"),
        }
        tested = _read_best_test(directory)
        if tested and tested.get("trial") == best.number:
            best_doc["test_of_best_trial"] = tested["test"]
        best_doc = redact(best_doc)
        (directory / "best_params.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(best_doc)))


def run_search(overrides: list[str]) -> int:
    """Run this worker's share of the study described by the composed config; returns trials run."""
    import optuna
    from hydra.utils import instantiate

    from lightning_hydra_template.cli import warn_unused_local
    from lightning_hydra_template.distributed.sweep import write_status
    from lightning_hydra_template.train import train

    base = compose_trial(overrides)
    register_config_secrets(OmegaConf.to_container(base, resolve=False))
    warn_unused_local(base)
    if "search" not in base:
        raise ConfigError(
            "hparams_search",
            "no search space selected; allowed: hparams_search=<name> from configs/hparams_search/",
        )
    space = search_space(base)
    directory = search_dir(base)
    directory.mkdir(parents=True, exist_ok=True)
    worker = int(base.search.get("worker_index") or 0)
    sampler_cfg = cast(dict[str, Any], OmegaConf.to_container(base.search.sampler, resolve=True))
    if sampler_cfg.get("seed") is not None:
        sampler_cfg["seed"] = int(sampler_cfg["seed"]) + worker
    study = optuna.create_study(
        storage=open_storage(storage_url(base, directory)),
        study_name=str(base.search.study_name),
        direction="maximize" if base.monitor.mode == "max" else "minimize",
        sampler=instantiate(sampler_cfg),
        pruner=instantiate(base.search.pruner),
        load_if_exists=True,
    )
    n_trials = int(base.search.n_trials)
    states = tuple(getattr(optuna.trial.TrialState, s) for s in _FINISHED_STATES)
    finished = len(study.get_trials(deepcopy=False, states=states))
    print(
        f"Study {study.study_name!r} in {redact_text(storage_url(base, directory))}: {finished} of "
        f"{n_trials} trials finished; worker {worker}",
        flush=True,
    )
    stop_error: list[str] = []

    def objective(trial: optuna.Trial) -> float:
        values = suggest(trial, space)
        trial_dir = directory / str(trial.number)
        trial.set_user_attr("run_dir", str(trial_dir))
        trial.set_user_attr("worker", worker)
        print(f"trial {trial.number}: {' '.join(as_overrides(values))}", flush=True)
        cfg = compose_trial([*overrides, *as_overrides(values), *TRIAL_OVERRIDES], trial_dir)
        pruning = OptunaPruning(trial, cfg.monitor.metric)
        try:
            summary = train(cfg, extra_callbacks=[pruning])
        except optuna.TrialPruned as pruned:
            write_status(trial_dir, "pruned", error=f"pruned: {pruned}", history=_history(pruning))
            print(f"trial {trial.number}: pruned ({pruned})", flush=True)
            raise
        except UserError as err:  # the same mistake would end every trial: stop this worker
            write_status(trial_dir, "failed", error=str(err))
            stop_error.append(str(err))
            study.stop()
            raise
        except Exception as err:
            write_status(trial_dir, "failed", error=f"{type(err).__name__}: {err}".splitlines()[0])
            raise
        value = summary.get("best_value")
        if value is None or not math.isfinite(value):
            write_status(trial_dir, "failed", error=f"no finite {cfg.monitor.metric} was logged")
            raise ValueError(f"trial {trial.number}: no finite {cfg.monitor.metric}")
        return float(value)

    max_trials = optuna.study.MaxTrialsCallback(n_trials, states=states)
    before = len(study.trials)
    try:
        if finished < n_trials:
            study.optimize(
                objective,
                n_trials=n_trials - finished,
                timeout=base.search.get("timeout"),
                callbacks=[max_trials],
                catch=(Exception,),
                gc_after_trial=True,
            )
    finally:
        write_results(study, directory, space, overrides)
        from lightning_hydra_template.distributed.sweep_report import write_report

        write_report(directory)
    if stop_error:
        raise UserError(stop_error[0])
    tested = evaluate_best_trial(study, directory, overrides) if base.get("test") else None
    if tested:
        write_results(study, directory, space, overrides)
        _append_test_to_report(directory, tested, base.monitor.metric)
    _print_outcome(study, directory, tested)
    return len(study.trials) - before


# eval.yaml's groups and keys: what of the search command also applies to testing a checkpoint
_EVAL_KEYS = ("trainer", "extras", "paths", "seed", "deterministic")


def evaluate_best_trial(study: Any, directory: Path, search_overrides: list[str]) -> dict[str, Any] | None:
    """Test the best trial's best checkpoint on the test split, once per best trial (the result is
    kept in ``best_trial_test.json``; a later, better trial is tested when the study continues)."""
    completed = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    if not completed:
        return None
    best = study.best_trial
    tested = _read_best_test(directory)
    if tested and tested.get("trial") == best.number:
        return tested
    summary = _read_json(Path(best.user_attrs.get("run_dir", "")) / "summary.json") or {}
    checkpoint = summary.get("best_checkpoint")
    if not checkpoint or not Path(checkpoint).is_file():
        print(f"  no checkpoint of trial {best.number} on this machine: its test split is not scored")
        return None
    from lightning_hydra_template.config.compose import compose_run_config
    from lightning_hydra_template.eval import evaluate

    print(f"Testing the best trial ({best.number}) once on the test split: {checkpoint}", flush=True)
    eval_overrides = [o for o in search_overrides if _key(o).split(".")[0].split("/")[0] in _EVAL_KEYS]
    output_dir = directory / "best_trial_test"
    cfg = compose_run_config(
        [*eval_overrides, f"ckpt_path={_quoted(checkpoint)}", "logger=none"],
        output_dir,
        "eval",
        job_num=best.number,
    )
    metrics = evaluate(cfg)
    record = {"trial": best.number, "checkpoint": checkpoint, "test": metrics}
    (directory / BEST_TEST_FILE).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    return record


def _quoted(value: str) -> str:
    """A Hydra override value that may hold ``=``, blanks or brackets (a checkpoint path)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _read_best_test(directory: Path) -> dict[str, Any] | None:
    return _read_json(directory / BEST_TEST_FILE)


def _describe_metrics(metrics: dict[str, float]) -> str:
    return " | ".join(f"{k} {v:.4f}" for k, v in sorted(metrics.items()))


def _append_test_to_report(directory: Path, tested: dict[str, Any], monitor: str) -> None:
    report = directory / "report.md"
    if not report.is_file():
        return
    lines = [
        "## Test split: the best trial only",
        "",
        f"Trials were compared on {monitor} (validation). The best one, trial {tested['trial']}, was then "
        "tested once on the test split:",
        "",
        f"- {_describe_metrics(tested['test'])}",
        "",
    ]
    report.write_text(report.read_text().rstrip("\n") + "\n\n" + "\n".join(lines))


def _history(pruning: Any) -> list[dict[str, Any]]:
    monitor = pruning.monitor
    return [{"epoch": epoch, monitor: value} for epoch, value in pruning.reported]


def _print_outcome(study: Any, directory: Path, tested: dict[str, Any] | None) -> None:
    counts: dict[str, int] = {}
    for t in study.get_trials(deepcopy=False):
        counts[t.state.name.lower()] = counts.get(t.state.name.lower(), 0) + 1
    print(
        f"Study {study.study_name!r}: {len(study.trials)} trials ("
        + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        + ")"
    )
    if (directory / "best_params.yaml").is_file():
        best = study.best_trial
        print(f"  best value  {best.value:.4f} (trial {best.number}, validation)")
        print(f"  best params {' '.join(as_overrides(best.params))}")
        if tested:
            print(f"  its test    {_describe_metrics(tested['test'])} (test split, this trial only)")
        print(
            f"  written     {directory}/best_params.yaml (its `command` trains the best trial again)",
            flush=True,
        )
    print(f"  trials      {directory}/trials.csv, report.md", flush=True)


def main() -> None:
    from lightning_hydra_template.config.overrides import check_overrides, make_overrides
    from lightning_hydra_template.config.resolvers import register_resolvers

    register_resolvers()
    args = make_overrides() + sys.argv[1:]
    load_dotenv()  # secrets in ./.env reach the environment, and are masked like any other
    register_override_secrets(args)
    if any(a in ("-h", "--help") for a in args):
        print(__doc__)
        return
    flags = [a for a in args if a.startswith("-")]
    if flags:
        fail(f"{flags[0]}: not an option of the search; allowed: Hydra overrides key=value (see --help)")
    if not any(a.split("=")[0].lstrip("+") == "hparams_search" for a in args):
        fail("hparams_search: not given; allowed: " + ", ".join(_search_spaces()))
    check_overrides("train", args)
    with user_errors():
        run_search(args)


def _search_spaces() -> list[str]:
    from lightning_hydra_template.config.overrides import group_options

    return group_options("hparams_search")


if __name__ == "__main__":
    main()
