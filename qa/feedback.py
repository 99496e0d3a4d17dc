"""Keeps readers' thumbs up/down on answers as JSON lines at `Settings.feedback_path`, one line per vote,
with the question, answer, citations, mode and time, so that bad answers can be found and replayed.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Literal

from qa.answer.extractive import Answer
from qa.jsonl import append_record, read_records

Rating = Literal["up", "down"]
RATINGS: tuple[str, ...] = ("up", "down")


def feedback_record(answer: Answer, rating: Rating, *, answer_id: str | None = None,
                    now: dt.datetime | None = None) -> dict:
    """The JSON object stored for one vote on `answer`."""
    if rating not in RATINGS:
        raise ValueError(f"rating must be one of {RATINGS}, got {rating!r}")
    when = (now or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds")
    return {
        "time": when,
        "rating": rating,
        "answer_id": answer_id,
        "question": answer.question,
        "standalone_question": answer.standalone_question,
        "answer": answer.answer,
        "abstained": answer.abstained,
        "mode": answer.mode,
        "citations": [
            {"n": c.n, "chunk_id": c.chunk_id, "title": c.title, "source": c.source, "published": c.published,
             "url": c.url}
            for c in answer.citations
        ],
    }


def record_feedback(path: Path, answer: Answer, rating: Rating, *, answer_id: str | None = None) -> dict:
    """Appends one vote to the JSONL file at `path` (created with its folder if missing) and returns it."""
    record = feedback_record(answer, rating, answer_id=answer_id)
    append_record(path, record)
    return record


def read_feedback(path: Path) -> list[dict]:
    """Every vote stored at `path`, oldest first; lines that are not JSON objects are skipped."""
    return read_records(path)
