"""A checkpoint trained under another package name, rewritten to load in this one.

    python -m lightning_hydra_template.runs.retarget <old.ckpt> [--from <old package>] [--out <new.ckpt>]

A checkpoint names code by import path (``_target_: <package>.models....`` in its embedded config) and keeps
its own entries under the package's key prefix (``<prefix>config``, ``<prefix>resume``). After a rename (a
project from ``make new-project`` loading checkpoints trained in the template, or a package renamed by
hand) those names point nowhere. This rewrites every string that is the old package or starts with
``<old package>.``, and every entry key that starts with the old prefix, and writes a new file; the
original is left as it is. Without ``--from`` the old names are those of the template the project was
generated from, recorded in ``.template.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lightning_hydra_template.config.errors import ConfigError, user_errors
from lightning_hydra_template.runs.checkpoint import CONFIG_KEY, load_checkpoint

PACKAGE = (__package__ or __name__).split(".")[0]  # also under python -m
KEY_PREFIX = CONFIG_KEY.removesuffix("config")
TEMPLATE_RECORD = Path(".template.json")


def retarget(value: Any, old_package: str, old_prefix: str) -> Any:
    """``value`` with the old package's import paths and entry keys renamed to this package's."""
    if isinstance(value, str):
        if value == old_package or value.startswith(f"{old_package}."):
            return PACKAGE + value[len(old_package) :]
        return value
    if isinstance(value, dict):
        return {
            (
                KEY_PREFIX + k[len(old_prefix) :] if isinstance(k, str) and k.startswith(old_prefix) else k
            ): retarget(v, old_package, old_prefix)
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return type(value)(retarget(v, old_package, old_prefix) for v in value)
    return value


def retarget_checkpoint(path: Path, out: Path, old_package: str, old_prefix: str | None = None) -> Path:
    """Write ``path`` renamed from ``old_package`` (key prefix ``old_prefix``, default ``<old_package>_``) to
    ``out``; refuses to overwrite."""
    import torch

    if out.exists():
        raise ConfigError("--out", f"{out} exists; allowed: a new file name")
    checkpoint = load_checkpoint(path)
    renamed = retarget(checkpoint, old_package, old_prefix or f"{old_package}_")
    if CONFIG_KEY not in renamed:
        raise ConfigError(
            "--from",
            f"{path} has no {old_prefix or old_package + '_'}config entry; allowed: the package it was trained with",
        )
    torch.save(renamed, out)
    return out


def old_names(given: str | None) -> tuple[str, str]:
    """The old package and key prefix: ``--from``, or the template's from ``.template.json``."""
    if given:
        return given, f"{given}_"
    if not TEMPLATE_RECORD.is_file():
        raise ConfigError(
            "--from", "required here (no .template.json in this directory); allowed: a package name"
        )
    template = json.loads(TEMPLATE_RECORD.read_text())["template"]
    return template["package"], f"{template['short']}_"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ckpt", type=Path, help="the checkpoint trained under the old name")
    parser.add_argument(
        "--from", dest="old", help="the old package name (default: .template.json's template)"
    )
    parser.add_argument("--out", type=Path, help="where to write (default: <name>-renamed.ckpt next to it)")
    args = parser.parse_args(argv)
    with user_errors():
        old_package, old_prefix = old_names(args.old)
        out = args.out or args.ckpt.with_name(f"{args.ckpt.stem}-renamed.ckpt")
        retarget_checkpoint(args.ckpt, out, old_package, old_prefix)
    print(f"wrote {out} ({old_package} -> {PACKAGE})")


if __name__ == "__main__":
    main(sys.argv[1:])
