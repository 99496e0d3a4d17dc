"""Fault injection for the crash tests: `QA_TEST_PAUSE_AT` (`Settings.test_pause_at`) names one point of a
reindex where the process stops, says so on stderr and waits for a line on stdin, so a test can kill it there.

The points are `embed` (after the first encoded batch), `chroma` (after the first write into Chroma), `bm25`
(inside the BM25 write) and `publish` (just before the switch to the new index). This is the one place that
reads the setting; the writing code only calls `checkpoint(name)` at each point, which does nothing by default.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Callable

Checkpoint = Callable[[str], None]
POINTS = ("embed", "chroma", "bm25", "publish")


def no_checkpoint(point: str) -> None:
    """The checkpoint of every ordinary run."""


def checkpoint_from(pause_at: str | None) -> Checkpoint:
    """The checkpoint for the setting's value: pauses the first time `pause_at` is reached, nowhere else."""
    if pause_at is None:
        return no_checkpoint
    if pause_at not in POINTS:
        raise ValueError(f"unknown pause point {pause_at!r}; one of {', '.join(POINTS)}")
    pending = {pause_at}

    def checkpoint(point: str) -> None:
        if point not in pending:
            return
        pending.discard(point)
        print(f"qa reindex: paused at {point} (pid {os.getpid()}, QA_TEST_PAUSE_AT)", file=sys.stderr, flush=True)
        sys.stdin.readline()

    return checkpoint
