"""Reads the records of a wandb offline run file (``run-<id>.wandb``) back, for tests.

The file is a ``:W&B`` header followed by a LevelDB-style log: 32 KiB blocks of records with a 7-byte
header (crc32, length, type), where a record may be split into first/middle/last fragments.
"""

from __future__ import annotations

import struct
from pathlib import Path

from wandb.proto import wandb_internal_pb2 as pb

_BLOCK = 32 * 1024
_HEADER = 7
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4


def read_records(path: Path) -> list[pb.Record]:
    data = path.read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a wandb run file"
    pos, pending, raw_records = 7, b"", []
    while pos + _HEADER <= len(data):
        left_in_block = _BLOCK - pos % _BLOCK
        if left_in_block < _HEADER:
            pos += left_in_block
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + _HEADER])
        if length == 0 and kind == 0:  # zero padding up to the next block
            pos += left_in_block
            continue
        chunk = data[pos + _HEADER : pos + _HEADER + length]
        pos += _HEADER + length
        if kind == _FULL:
            raw_records.append(chunk)
        elif kind == _FIRST:
            pending = chunk
        elif kind == _MIDDLE:
            pending += chunk
        elif kind == _LAST:
            raw_records.append(pending + chunk)
    records = []
    for raw in raw_records:
        record = pb.Record()
        record.ParseFromString(raw)
        records.append(record)
    return records


def history_rows(path: Path) -> list[dict[str, str]]:
    """Each logged row as {metric name: JSON-encoded value}."""
    return [
        {item.key or "/".join(item.nested_key): item.value_json for item in record.history.item}
        for record in read_records(path)
        if record.WhichOneof("record_type") == "history"
    ]


def run_config(path: Path) -> dict[str, str]:
    """The run's config as {key: JSON-encoded value}: the run record's config, then every config update."""
    config: dict[str, str] = {}
    for record in read_records(path):
        kind = record.WhichOneof("record_type")
        items = (
            record.run.config.update if kind == "run" else record.config.update if kind == "config" else []
        )
        config |= {item.key or "/".join(item.nested_key): item.value_json for item in items}
    return config


def run_tags_and_group(path: Path) -> tuple[list[str], str]:
    runs = [r.run for r in read_records(path) if r.WhichOneof("record_type") == "run"]
    return list(runs[-1].tags), runs[-1].run_group
