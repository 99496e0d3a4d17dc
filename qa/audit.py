"""The audit log of admin actions (reindex, upload, URLs added, deletion, LLM server change): JSON lines with who, when
and what, at `Settings.audit_log_path` (beside the feedback file unless QA_AUDIT_PATH says otherwise).
"""
from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

from qa.jsonl import append_record, read_records

logger = logging.getLogger(__name__)

ACTIONS = ("reindex", "upload", "add_urls", "delete", "llm_server", "sign_in", "sign_in_failed")


def record_action(path: Path, who: str, action: str, **details) -> dict:
    """Appends one admin action to the JSONL file at `path` (created with its folder) and returns the record."""
    if action not in ACTIONS:
        raise ValueError(f"action must be one of {ACTIONS}, got {action!r}")
    record = {"time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "who": who,
              "action": action, **details}
    append_record(path, record, mode=0o600)
    logger.info("audit: %s %s %s", who, action, details)
    return record


def read_actions(path: Path) -> list[dict]:
    """Every action stored at `path`, oldest first; lines that are not JSON objects are skipped."""
    return read_records(path)


def uploaded_files(path: Path, corpus_dir: Path) -> list[str]:
    """Names of files admins uploaded (per the log) that are still in the corpus folder, newest first."""
    names: dict[str, None] = {}
    for record in reversed(read_actions(path)):
        name = record.get("file")
        if record.get("action") == "upload" and isinstance(name, str) and name not in names:
            names[name] = None
    return [name for name in names if (corpus_dir / name).is_file()]
