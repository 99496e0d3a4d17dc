"""Bounds on what visitors can make the server do: questions per session per minute, pipelines kept in memory
(least recently used dropped), the size, count and type of uploaded files, and the URLs one paste may add.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar
from urllib.parse import urlsplit

from qa.ingest.load import SUPPORTED_SUFFIXES
from qa.settings import Settings

logger = logging.getLogger(__name__)

T = TypeVar("T")
WINDOW_S = 60.0


class QuestionRateLimit:
    """A sliding one-minute window of one session's questions; `clock` is injectable so tests need no sleep."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic):
        self.per_minute = per_minute
        self._clock = clock
        self._asked: deque[float] = deque()

    def _forget_old(self, now: float) -> None:
        while self._asked and now - self._asked[0] >= WINDOW_S:
            self._asked.popleft()

    def try_ask(self) -> str | None:
        """Counts a question and returns None, or returns the message to show when the limit is reached."""
        now = self._clock()
        self._forget_old(now)
        if len(self._asked) >= self.per_minute:
            wait = max(1, int(WINDOW_S - (now - self._asked[0]) + 0.999))
            return (f"You have asked {len(self._asked)} questions in the last minute, the most this app allows "
                    f"(QA_QUESTIONS_PER_MINUTE={self.per_minute}). Please wait {wait} s before the next one.")
        self._asked.append(now)
        return None


class PipelineCache(Generic[T]):
    """At most `max_entries` built objects (one per settings key); the least recently used is dropped when a
    new one is needed, so no visitor can make the server hold an unbounded number of pipelines."""

    def __init__(self, max_entries: int):
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, T] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, build: Callable[[], T]) -> T:
        """The object kept for `key`, built by `build()` the first time (or again after it was dropped)."""
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
        # Built outside the lock: a pipeline takes seconds to open, and other keys must not wait for it.
        value = build()
        with self._lock:
            if key in self._entries:  # another session built it meanwhile: keep one
                self._entries.move_to_end(key)
                return self._entries[key]
            self._entries[key] = value
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
                logger.info("dropped the least recently used pipeline (%d kept)", self.max_entries)
        return value

    def keys(self) -> list[Hashable]:
        with self._lock:
            return list(self._entries)


def check_upload_batch(settings: Settings, files: list[tuple[str, int]]) -> list[str]:
    """Problems with an upload of `files` (name, size in bytes) before anything is saved; empty when fine."""
    problems = []
    if len(files) > settings.max_upload_files:
        problems.append(f"{len(files)} files at once is more than the {settings.max_upload_files} allowed "
                        "(QA_MAX_UPLOAD_FILES); upload them in smaller batches")
    limit = settings.max_upload_mb * 1024 * 1024
    for name, size in files:
        suffix = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
        if suffix not in SUPPORTED_SUFFIXES:
            problems.append(f"{name!r} is not a supported article file ({suffix or 'no extension'}); "
                            f"upload one of: {', '.join(SUPPORTED_SUFFIXES)}")
        elif size > limit:
            problems.append(f"{name!r} is {size / 1024 / 1024:.1f} MB, over the {settings.max_upload_mb:g} MB "
                            "limit (QA_MAX_UPLOAD_MB); split it or make it JSONL")
    return problems


@dataclass
class UrlBatch:
    """URLs pasted one per line: `urls` to fetch (distinct, in order), `problems` one per line that is not an
    http or https URL (those lines are left out, the others still fetched), `refusal` when the whole paste is
    refused (too many URLs; nothing is fetched)."""

    urls: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    refusal: str | None = None


def check_url_batch(settings: Settings, text: str) -> UrlBatch:
    """Reads pasted URLs, one per line (blank lines ignored), before anything is fetched."""
    batch = UrlBatch()
    lines = [(number, line.strip()) for number, line in enumerate(text.splitlines(), 1) if line.strip()]
    if not lines:
        batch.refusal = "no URL given; paste one http or https URL per line"
        return batch
    if len(lines) > settings.max_add_urls:
        batch.refusal = (f"{len(lines)} URLs at once is more than the {settings.max_add_urls} allowed "
                         "(QA_MAX_ADD_URLS); add them in smaller batches")
        return batch
    for number, line in lines:
        problem = _url_problem(line)
        if problem:
            shown = line if len(line) <= 80 else line[:77] + "..."
            batch.problems.append(f"line {number}: {shown!r} {problem}")
        elif line not in batch.urls:
            batch.urls.append(line)
    return batch


def _url_problem(line: str) -> str | None:
    if any(c.isspace() for c in line):
        return "holds a space; put one URL per line, without spaces"
    try:
        parts = urlsplit(line)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as exc:
        return f"is not a valid URL ({exc}); copy it again from the browser's address bar"
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") and "://" not in line:
        return ("does not start with http:// or https://; write the full address as the browser's address bar "
                "shows it, e.g. https://www.example.org/news/article.html")
    if scheme not in ("http", "https"):
        return f"uses the {scheme}: scheme; only http and https pages can be added, remove the line"
    if not parts.hostname:
        return "has no host name; write the full address, e.g. https://www.example.org/news/article.html"
    return None
