"""Adds web articles to the corpus folder (`qa add`) and keeps them current from feeds and sitemaps (`qa sync`),
remembering per URL what was fetched, so that unchanged pages are not downloaded or written again.
"""
from __future__ import annotations

import datetime as dt
import fcntl
import json
import logging
import os
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from qa.errors import ConfigError
from qa.ingest.feeds import MAX_SITEMAP_DEPTH, FeedSource, Link, parse_feed, parse_sitemap
from qa.ingest.fetch import Fetched, Fetcher, FetchError, RobotsRefusal
from qa.ingest.webpage import WebArticle, article_path, canonical_url, read_page
from qa.jsonl import append_record

logger = logging.getLogger(__name__)

STATE_FILE = ".web-state.json"  # hidden: the loader skips it
STATUSES = ("added", "updated", "unchanged", "duplicate", "failed")


@dataclass
class UrlResult:
    """What happened to one URL: `status` is one of STATUSES; `path` is relative to the corpus folder;
    `refused_by_robots` marks a failure because the host's robots.txt does not let us fetch the page."""

    url: str
    status: str
    path: str | None = None
    reason: str | None = None
    title: str | None = None
    refused_by_robots: bool = False


@dataclass
class WebReport:
    """The outcome of one `qa add` or `qa sync`: one result per URL (and per feed that failed)."""

    command: str
    results: list[UrlResult] = field(default_factory=list)

    @property
    def counts(self) -> Counter:
        return Counter(r.status for r in self.results)

    @property
    def changed(self) -> bool:
        return bool(self.counts["added"] or self.counts["updated"])

    @property
    def exit_status(self) -> int:
        return 1 if self.counts["failed"] else 0

    def summary(self) -> str:
        counts = self.counts
        return f"{self.command}: " + ", ".join(f"{counts[s]} {s}" for s in STATUSES)


class FetchState:
    """Per URL: the validators (ETag, Last-Modified), the article file and a hash of its text; per feed: its
    validators. Kept as JSON in the corpus folder, written atomically."""

    def __init__(self, path: Path):
        self.path = path
        self.pages: dict[str, dict] = {}  # canonical URL -> record
        self.aliases: dict[str, str] = {}  # any URL seen (canonicalised) -> canonical URL of its article
        self.feeds: dict[str, dict] = {}
        if path.exists():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                self.pages, self.aliases, self.feeds = data["pages"], data["aliases"], data["feeds"]
            except (ValueError, KeyError, TypeError, OSError) as exc:
                logger.warning("%s cannot be read (%s); every URL is fetched again as new", path, exc)

    def key_for(self, url: str) -> str:
        canonical = canonical_url(url)
        return self.aliases.get(canonical, canonical)

    def by_text(self, text_hash: str) -> str | None:
        for key, record in self.pages.items():
            if record.get("text_hash") == text_hash:
                return key
        return None

    def save(self) -> None:
        data = {"pages": self.pages, "aliases": self.aliases, "feeds": self.feeds}
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".web-state-", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1, sort_keys=True)
        os.replace(tmp, self.path)


@contextmanager
def corpus_state(corpus_dir: Path) -> Iterator[FetchState]:
    """The fetch state of a corpus folder, held under a lock so that two `qa sync` runs never interleave."""
    if not corpus_dir.is_dir():
        raise ConfigError(f"corpus folder {corpus_dir} does not exist; create it or set QA_CORPUS_DIR")
    with open(corpus_dir / ".web-state.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(f"another `qa add` or `qa sync` is writing into {corpus_dir}; "
                              "wait for it to finish") from None
        state = FetchState(corpus_dir / STATE_FILE)
        try:
            yield state
        finally:
            state.save()


def add_urls(urls: Sequence[str], corpus_dir: Path, fetcher: Fetcher, source: str | None = None,
             progress: Callable[[UrlResult], None] | None = None, command: str = "add") -> WebReport:
    """Fetch each URL and save its article into the corpus folder; one bad URL never stops the others."""
    report = WebReport(command)
    with corpus_state(corpus_dir) as state:
        _fetch_all([(url, source) for url in dict.fromkeys(urls)], corpus_dir, fetcher, state, report, progress)
    return report


def sync_feeds(sources: Sequence[FeedSource], corpus_dir: Path, fetcher: Fetcher,
               progress: Callable[[UrlResult], None] | None = None) -> WebReport:
    """Fetch what the feeds and sitemaps announce that is new (or updated since we read it)."""
    report = WebReport("sync")
    with corpus_state(corpus_dir) as state:
        todo: dict[str, str | None] = {}
        for feed in sources:
            for link in _links(feed, fetcher, state, report):
                if not feed.wants(link.url):
                    continue
                record = state.pages.get(state.key_for(link.url))
                if record is None or _newer(link.updated, record.get("retrieved")):
                    todo.setdefault(link.url, feed.source)
        _fetch_all(list(todo.items()), corpus_dir, fetcher, state, report, progress)
    return report


def _links(feed: FeedSource, fetcher: Fetcher, state: FetchState, report: WebReport) -> list[Link]:
    links: list[Link] = []
    pending = [(feed.url, 0)]
    while pending:
        url, depth = pending.pop(0)
        validators = state.feeds.get(url, {})
        try:
            page = fetcher.get(url, validators.get("etag"), validators.get("last_modified"))
            if page.not_modified:
                logger.info("%s unchanged since the last sync", url)
                continue
            listing = parse_feed(page.content, page.final_url) if feed.kind == "feed" else parse_sitemap(page.content)
        except FetchError as exc:
            report.results.append(UrlResult(url, "failed", reason=f"{feed.kind}: {exc.reason}"))
            continue
        except ValueError as exc:
            report.results.append(UrlResult(url, "failed", reason=f"{feed.kind}: {exc}"))
            continue
        links.extend(listing.links)
        if depth < MAX_SITEMAP_DEPTH:
            pending.extend((nested, depth + 1) for nested in listing.sitemaps)
        state.feeds[url] = {"etag": page.etag, "last_modified": page.last_modified}
    return links


def _newer(updated: dt.datetime | None, retrieved: str | None) -> bool:
    if updated is None or not retrieved:
        return False
    try:
        seen = dt.datetime.fromisoformat(retrieved.replace("Z", "+00:00"))
    except ValueError:
        return True
    return updated > seen


def _fetch_all(todo: list[tuple[str, str | None]], corpus_dir: Path, fetcher: Fetcher, state: FetchState,
               report: WebReport, progress: Callable[[UrlResult], None] | None) -> None:
    def fetch(item: tuple[str, str | None, dict]) -> tuple[str, str | None, object]:
        url, source, record = item
        try:
            page = fetcher.get(url, record.get("etag"), record.get("last_modified"))
            if page.not_modified:
                return url, source, page
            return url, source, (read_page(page, _now(), source), page)
        except FetchError as exc:
            return url, source, exc

    # Fetching and extraction run in parallel; the state and the corpus folder are written by this thread only.
    # Validators are read before the pool starts, so that no worker reads the state while it changes.
    items = [(url, source, dict(state.pages.get(state.key_for(url)) or {})) for url, source in todo]
    with ThreadPoolExecutor(max_workers=fetcher.policy.concurrency) as pool:
        for url, _source, outcome in pool.map(fetch, items):
            if isinstance(outcome, FetchError):
                result = UrlResult(url, "failed", reason=outcome.reason,
                                   refused_by_robots=isinstance(outcome, RobotsRefusal))
            elif isinstance(outcome, Fetched):
                key = state.key_for(url)
                result = UrlResult(url, "unchanged", path=state.pages.get(key, {}).get("file"))
            else:
                article, page = outcome
                result = _store(url, article, page, corpus_dir, state)
            log = logger.warning if result.status == "failed" else logger.info
            log("%s: %s%s", url, result.status, f" ({result.reason})" if result.reason else "")
            report.results.append(result)
            if progress is not None:
                progress(result)


def _store(url: str, article: WebArticle, page: Fetched, corpus_dir: Path, state: FetchState) -> UrlResult:
    asked = canonical_url(url)
    key = article.url
    if key not in state.pages:
        # The same article under another URL (no canonical link, a mirror): keep the first copy.
        same_text = state.by_text(article.text_hash)
        if same_text is not None and same_text != state.aliases.get(asked, asked):
            state.aliases[asked] = same_text
            return UrlResult(url, "duplicate", path=state.pages[same_text]["file"],
                             reason=f"same article as {same_text}", title=article.title)
        key = state.aliases.get(asked, key)
    record = state.pages.get(key)
    state.aliases[asked] = key
    state.aliases[article.url] = key
    validators = {"etag": page.etag, "last_modified": page.last_modified,
                  "retrieved": article.retrieved.strftime("%Y-%m-%dT%H:%M:%SZ")}
    if record is not None and (corpus_dir / record["file"]).exists():
        record.update(validators)
        if record.get("text_hash") == article.text_hash:
            return UrlResult(url, "unchanged", path=record["file"], title=article.title)
        _write(corpus_dir / record["file"], article.markdown())
        record["text_hash"] = article.text_hash
        return UrlResult(url, "updated", path=record["file"], title=article.title)
    path = article_path(corpus_dir, article)
    _write(path, article.markdown())
    rel = path.relative_to(corpus_dir).as_posix()
    state.pages[key] = {"file": rel, "text_hash": article.text_hash, **validators}
    return UrlResult(url, "added", path=rel, title=article.title)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def write_log(log_path: Path, report: WebReport) -> None:
    """Append one JSON line per URL to the fetch log, for cron runs that nobody watches."""
    stamp = _now().strftime("%Y-%m-%dT%H:%M:%SZ")
    for result in report.results:
        append_record(log_path, {"time": stamp, "command": report.command, **asdict(result)})
