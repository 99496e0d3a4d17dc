"""Fetches web pages politely for `qa add` and `qa sync`: robots.txt honoured, a delay between requests to
one host, a global limit on parallel requests, conditional GET, timeouts, and limits on size and redirects.
"""
from __future__ import annotations

import logging
import threading
import time
import urllib.robotparser
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx

from qa.errors import QAError
from qa.settings import Settings

logger = logging.getLogger(__name__)

USER_AGENT = "DigitalAssetPolicyQA/0.1 (+local research tool; honours robots.txt)"


class FetchError(QAError):
    """One URL could not be fetched; `reason` says why in words a user can act on."""

    def __init__(self, url: str, reason: str):
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason


class RobotsRefusal(FetchError):
    """The URL's host does not let us fetch it: its robots.txt forbids the path, or cannot be read."""


@dataclass(frozen=True)
class FetchPolicy:
    """How politely and how far the fetcher goes; every field comes from `Settings.fetch_*`."""

    user_agent: str = USER_AGENT
    timeout_s: float = 20.0
    max_bytes: int = 10_000_000
    max_redirects: int = 5
    host_delay_s: float = 1.0
    concurrency: int = 4

    @classmethod
    def from_settings(cls, settings: Settings) -> FetchPolicy:
        return cls(user_agent=settings.fetch_user_agent, timeout_s=settings.fetch_timeout_s,
                   max_bytes=int(settings.fetch_max_mb * 1_000_000), max_redirects=settings.fetch_max_redirects,
                   host_delay_s=settings.fetch_host_delay_s, concurrency=settings.fetch_concurrency)


@dataclass(frozen=True)
class Fetched:
    """A response: `status` is 200 with `content`, or 304 (unchanged since the validators we sent)."""

    url: str  # as asked for
    final_url: str  # after redirects
    status: int
    content: bytes
    content_type: str
    etag: str | None
    last_modified: str | None

    @property
    def not_modified(self) -> bool:
        return self.status == 304


class Fetcher:
    """Thread-safe: `qa sync` fetches from a pool of `policy.concurrency` threads through one Fetcher."""

    def __init__(self, policy: FetchPolicy | None = None, transport: httpx.BaseTransport | None = None):
        self.policy = policy or FetchPolicy()
        self._client = httpx.Client(
            headers={"User-Agent": self.policy.user_agent},
            timeout=httpx.Timeout(self.policy.timeout_s),
            follow_redirects=False,  # followed by hand: every hop is checked for its scheme and robots.txt
            transport=transport,
        )
        self._slots = threading.BoundedSemaphore(self.policy.concurrency)
        self._lock = threading.Lock()
        self._next_request: dict[str, float] = {}
        self._host_delays: dict[str, float] = {}  # Crawl-delay of a host's robots.txt, when longer than ours
        self._robots: dict[str, urllib.robotparser.RobotFileParser | None] = {}
        self._robots_locks: dict[str, threading.Lock] = {}

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def get(self, url: str, etag: str | None = None, last_modified: str | None = None) -> Fetched:
        """Fetch `url`, following up to `max_redirects` redirects; raises FetchError with the reason."""
        current = url
        seen = {url}
        for _ in range(self.policy.max_redirects + 1):
            _check_scheme(current)
            if not self.allowed(current):
                raise RobotsRefusal(url, f"robots.txt of {_origin(current)} forbids {urlsplit(current).path or '/'}")
            headers = {}
            if etag:
                headers["If-None-Match"] = etag
            if last_modified:
                headers["If-Modified-Since"] = last_modified
            status, body, response_headers = self._request(url, current, headers)
            if status in (301, 302, 303, 307, 308):
                location = response_headers.get("location")
                if not location:
                    raise FetchError(url, f"HTTP {status} redirect without a Location header")
                target = urljoin(current, location)
                if target in seen:
                    raise FetchError(url, f"redirect loop ({current} -> {target})")
                seen.add(target)
                current = target
                continue
            if status == 304:
                return Fetched(url, current, 304, b"", "", etag, last_modified)
            if status >= 400:
                raise FetchError(url, f"HTTP {status}")
            if status != 200:
                raise FetchError(url, f"unexpected HTTP {status}")
            return Fetched(
                url, current, 200, body,
                response_headers.get("content-type", "").split(";")[0].strip().lower(),
                response_headers.get("etag"), response_headers.get("last-modified"),
            )
        raise FetchError(url, f"more than {self.policy.max_redirects} redirects")

    def allowed(self, url: str) -> bool:
        """Whether robots.txt of the URL's host lets our user agent fetch it (RFC 9309)."""
        origin = _origin(url)
        with self._lock:
            lock = self._robots_locks.setdefault(origin, threading.Lock())
        with lock:
            if origin not in self._robots:
                self._robots[origin] = self._read_robots(origin)
        parser = self._robots[origin]
        if parser is None:  # robots.txt unreachable: RFC 9309 says assume everything is disallowed
            return False
        return parser.can_fetch(self.policy.user_agent, url)

    def _read_robots(self, origin: str) -> urllib.robotparser.RobotFileParser | None:
        parser = urllib.robotparser.RobotFileParser()
        try:
            status, body, _ = self._request(origin + "/robots.txt", origin + "/robots.txt", {})
        except FetchError as exc:
            logger.warning("robots.txt of %s cannot be read (%s); not fetching from that host", origin, exc.reason)
            return None
        if 400 <= status < 500 or status in (301, 302, 303, 307, 308):
            parser.parse([])  # no robots.txt: everything is allowed
        elif status >= 500:
            logger.warning("robots.txt of %s answered HTTP %s; not fetching from that host", origin, status)
            return None
        else:
            parser.parse(body.decode("utf-8", errors="replace").splitlines())
        delay = parser.crawl_delay(self.policy.user_agent)
        if delay:
            with self._lock:
                self._host_delays[origin] = float(delay)
        return parser

    def _wait_turn(self, origin: str) -> None:
        delay = max(self.policy.host_delay_s, self._host_delays.get(origin, 0.0))
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next_request.get(origin, now))
            self._next_request[origin] = slot + delay
        if slot > now:
            time.sleep(slot - now)

    def _request(self, asked: str, url: str, headers: dict[str, str]) -> tuple[int, bytes, httpx.Headers]:
        self._wait_turn(_origin(url))
        limit = self.policy.max_bytes
        deadline = time.monotonic() + self.policy.timeout_s
        with self._slots:
            try:
                with self._client.stream("GET", url, headers=headers) as response:
                    length = response.headers.get("content-length")
                    if length and length.isdigit() and int(length) > limit:
                        raise FetchError(asked, f"page is {int(length) / 1e6:.1f} MB, over the "
                                                f"{limit / 1e6:.1f} MB limit (QA_FETCH_MAX_MB)")
                    body = bytearray()
                    for block in response.iter_bytes():
                        body.extend(block)
                        if len(body) > limit:
                            raise FetchError(asked, f"page is over the {limit / 1e6:.1f} MB limit (QA_FETCH_MAX_MB)")
                        if time.monotonic() > deadline:
                            raise FetchError(asked, f"took longer than {self.policy.timeout_s:g} s "
                                                    "(QA_FETCH_TIMEOUT_S)")
                    return response.status_code, bytes(body), response.headers
            except httpx.TimeoutException:
                raise FetchError(asked, f"no answer within {self.policy.timeout_s:g} s (QA_FETCH_TIMEOUT_S)") from None
            except httpx.HTTPError as exc:
                raise FetchError(asked, f"cannot connect ({type(exc).__name__}: {exc})") from None


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _check_scheme(url: str) -> None:
    scheme = urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        raise FetchError(url, f"only http and https URLs can be fetched, not {scheme or 'a URL without a scheme'}")
