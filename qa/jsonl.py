"""Append-only JSON-lines files (reader feedback, the admin audit log): one record a line, written so that
records from several sessions never interleave, and read back skipping lines that are not JSON objects.
"""
from __future__ import annotations

import json
import os
from pathlib import Path


def append_record(path: Path, record: dict, mode: int = 0o644) -> None:
    """Append `record` as one line to `path`, creating the file (with `mode`) and its folder if missing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(record, ensure_ascii=False, default=str) + "\n").encode("utf-8")
    # One write on an O_APPEND descriptor: records from several sessions never interleave within a line.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, mode)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def read_records(path: Path) -> list[dict]:
    """Every record stored at `path`, oldest first; lines that are not JSON objects are skipped."""
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records
