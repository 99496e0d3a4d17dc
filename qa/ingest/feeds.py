"""Reads the feeds file of `qa sync` (RSS/Atom feeds and sitemaps, with URL patterns and a source name) and
lists the article URLs each feed or sitemap announces.
"""
from __future__ import annotations

import datetime as dt
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from qa.errors import ConfigError

MAX_SITEMAP_DEPTH = 2  # a sitemap index may point at sitemaps, which list pages


@dataclass(frozen=True)
class FeedSource:
    """One entry of the feeds file: a feed or sitemap URL and which of its links to take."""

    url: str
    kind: str  # "feed" or "sitemap"
    source: str | None = None
    include: tuple[re.Pattern, ...] = ()
    exclude: tuple[re.Pattern, ...] = ()

    def wants(self, url: str) -> bool:
        if self.include and not any(p.search(url) for p in self.include):
            return False
        return not any(p.search(url) for p in self.exclude)


@dataclass(frozen=True)
class Link:
    """An article URL a feed or sitemap announced, with its last change when the feed says."""

    url: str
    updated: dt.datetime | None = None


@dataclass
class Listing:
    links: list[Link] = field(default_factory=list)
    sitemaps: list[str] = field(default_factory=list)  # nested sitemaps of a sitemap index


def read_feeds_file(path: Path) -> list[FeedSource]:
    """The entries of a feeds file; raises ConfigError naming the file, the entry and the fix."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"feeds file {path} does not exist; create it (see README, 'Keeping the corpus "
                          "current') or set QA_FEEDS") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read feeds file {path} ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"feeds file {path} is not valid TOML ({exc}); fix it") from None
    unknown = set(data) - {"feed", "sitemap"}
    if unknown:
        raise ConfigError(f"feeds file {path}: unknown table(s) {', '.join(sorted(unknown))}; use [[feed]] and "
                          "[[sitemap]]")
    sources = []
    for kind in ("feed", "sitemap"):
        entries = data.get(kind, [])
        if not isinstance(entries, list):
            raise ConfigError(f"feeds file {path}: write each {kind} as a [[{kind}]] table")
        for i, entry in enumerate(entries, start=1):
            where = f"feeds file {path}, [[{kind}]] number {i}"
            url = entry.get("url")
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                raise ConfigError(f"{where}: field 'url' must be an http(s) URL, got {url!r}")
            extra = set(entry) - {"url", "source", "include", "exclude"}
            if extra:
                raise ConfigError(f"{where}: unknown field(s) {', '.join(sorted(extra))}; "
                                  "fields are url, source, include, exclude")
            source = entry.get("source")
            if source is not None and not isinstance(source, str):
                raise ConfigError(f"{where}: field 'source' must be text")
            sources.append(FeedSource(url, kind, source, _patterns(entry, "include", where),
                                      _patterns(entry, "exclude", where)))
    return sources


def _patterns(entry: dict, key: str, where: str) -> tuple[re.Pattern, ...]:
    values = entry.get(key, [])
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ConfigError(f"{where}: field '{key}' must be a list of regular expressions")
    patterns = []
    for value in values:
        try:
            patterns.append(re.compile(value))
        except re.error as exc:
            raise ConfigError(f"{where}: field '{key}' has an invalid regular expression {value!r} ({exc})") from None
    return tuple(patterns)


def parse_feed(content: bytes, base_url: str) -> Listing:
    """Links of an RSS or Atom feed, with each entry's update time when given."""
    import feedparser

    parsed = feedparser.parse(content, response_headers={"content-location": base_url})
    if parsed.bozo and not parsed.entries:
        raise ValueError(f"not an RSS or Atom feed ({parsed.get('bozo_exception')})")
    links = []
    for entry in parsed.entries:
        url = entry.get("link")
        if not url:
            continue
        stamp = entry.get("updated_parsed") or entry.get("published_parsed")
        updated = dt.datetime(*stamp[:6], tzinfo=dt.UTC) if stamp else None
        links.append(Link(url, updated))
    return Listing(links)


def parse_sitemap(content: bytes) -> Listing:
    """Page URLs of a sitemap (with `lastmod`), or the sitemaps a sitemap index points at."""
    from lxml import etree

    # No entity resolution and no network: a sitemap is untrusted input.
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, recover=False)
    try:
        root = etree.fromstring(content, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise ValueError(f"not a sitemap (invalid XML: {exc})") from None
    tag = etree.QName(root).localname
    if tag not in ("urlset", "sitemapindex"):
        raise ValueError(f"not a sitemap (root element <{tag}>)")
    listing = Listing()
    for item in root:
        if not isinstance(item.tag, str):
            continue
        values = {etree.QName(child).localname: (child.text or "").strip() for child in item
                  if isinstance(child.tag, str)}
        loc = values.get("loc")
        if not loc:
            continue
        if tag == "sitemapindex":
            listing.sitemaps.append(loc)
        else:
            listing.links.append(Link(loc, _lastmod(values.get("lastmod"))))
    return listing


def _lastmod(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        stamp = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC)
