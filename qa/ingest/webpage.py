"""Turns a fetched page (HTML or PDF) into an article file of the corpus: main text and metadata extracted by
trafilatura (PDFs by the PDF loader), saved as Markdown with front matter (`url`, `published`, `retrieved`).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import yaml

from qa.ingest.fetch import Fetched, FetchError
from qa.ingest.load import RELATIVE_DATE, UnreadableFile, decode_text, load_pdf, resolve_published

HTML_TYPES = ("text/html", "application/xhtml+xml", "text/plain", "")
PDF_TYPES = ("application/pdf", "application/x-pdf")
# Query parameters that say how a reader arrived, not which article it is.
_TRACKING = re.compile(r"^(utm_\w+|fbclid|gclid|dclid|msclkid|mc_cid|mc_eid|igshid|ref|ref_src|cmpid|amp|outputtype)$",
                       re.I)
# A relative date standing alone on a line near the top of a page ("6 days ago", "Yesterday").
_RELATIVE_LINE = re.compile(RELATIVE_DATE.pattern, re.I | re.M)


@dataclass(frozen=True)
class WebArticle:
    """An article read from the web, ready to be written into the corpus folder."""

    url: str  # canonical URL
    title: str
    text: str
    retrieved: dt.datetime
    published: str | None = None  # ISO date
    source: str | None = None
    author: str | None = None

    @property
    def text_hash(self) -> str:
        return hashlib.sha256(" ".join(self.text.split()).encode("utf-8")).hexdigest()

    def markdown(self) -> str:
        meta = {"title": self.title, "url": self.url, "published": self.published,
                "retrieved": self.retrieved.strftime("%Y-%m-%dT%H:%M:%SZ"), "source": self.source,
                "author": self.author}
        header = yaml.safe_dump({k: v for k, v in meta.items() if v}, allow_unicode=True, sort_keys=False,
                                width=10_000)
        return f"---\n{header}---\n\n{self.text.strip()}\n"


def canonical_url(url: str) -> str:
    """One spelling per article: lower-case host, no fragment, no tracking parameters, no AMP variant."""
    parts = urlsplit(url.strip())
    host = parts.netloc.lower()
    if host.startswith("amp."):
        host = host[4:]
    path = re.sub(r"/amp/?$|\.amp(?=\.html?$|$)", "", parts.path) or "/"
    if path != "/" and path.endswith("/"):
        path = path.rstrip("/")
    query = urlencode(sorted((k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                             if not _TRACKING.match(k)))
    scheme = parts.scheme.lower()
    if (scheme, host.rsplit(":", 1)[-1]) in (("http", "80"), ("https", "443")):
        host = host.rsplit(":", 1)[0]
    return urlunsplit((scheme, host, path, query, ""))


def read_page(page: Fetched, retrieved: dt.datetime, source: str | None = None) -> WebArticle:
    """The article of a fetched page; raises FetchError when it holds no article text."""
    if page.content_type in PDF_TYPES or page.content[:5] == b"%PDF-":
        return _read_pdf(page, retrieved, source)
    if page.content_type not in HTML_TYPES:
        raise FetchError(page.url, f"not a web page or PDF (Content-Type {page.content_type}); not added")
    try:
        html = decode_text(page.content)
    except UnreadableFile as exc:
        raise FetchError(page.url, str(exc)) from None
    import trafilatura

    doc = trafilatura.bare_extraction(html, url=page.final_url, with_metadata=True, include_comments=False,
                                      favor_precision=True)
    text = (getattr(doc, "text", None) or "").strip() if doc is not None else ""
    if len(text.split()) < 20:
        raise FetchError(page.url, "no article text found on the page (an index or navigation page?)")
    published = getattr(doc, "date", None)
    if not published:
        # trafilatura finds absolute dates; a page that only says "6 days ago" is dated from when it was read.
        match = _RELATIVE_LINE.search(html_text_head(html))
        published = resolve_published(match.group(0).strip(), retrieved) if match else None
    declared = getattr(doc, "url", None)
    url = canonical_url(declared if declared and declared.startswith(("http://", "https://")) else page.final_url)
    return WebArticle(
        url=url,
        title=(getattr(doc, "title", None) or "").strip() or url,
        text=text,
        retrieved=retrieved,
        published=published,
        source=source or getattr(doc, "sitename", None) or urlsplit(url).netloc,
        author=getattr(doc, "author", None),
    )


def html_text_head(html: str, limit: int = 20_000) -> str:
    """The visible text at the top of a page, one element per line, for spotting a stand-alone date."""
    head = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", html[:limit])
    return re.sub(r"[ \t]+", " ", re.sub(r"<[^>]+>", "\n", head))


def _read_pdf(page: Fetched, retrieved: dt.datetime, source: str | None) -> WebArticle:
    try:
        article = load_pdf(page.content, urlsplit(page.final_url).path.rsplit("/", 1)[-1] or "document.pdf")
    except UnreadableFile as exc:
        raise FetchError(page.url, str(exc)) from None
    url = canonical_url(page.final_url)
    return WebArticle(url=url, title=article.title or url, text=article.text, retrieved=retrieved,
                      source=source or urlsplit(url).netloc)


def article_path(corpus_dir: Path, article: WebArticle) -> Path:
    """Where a new web article goes: `web/<host>/<slug>.md`, never over another article's file."""
    parts = urlsplit(article.url)
    host = re.sub(r"[^a-z0-9.-]", "-", parts.netloc.lower()) or "unknown-host"
    stem = re.sub(r"[^a-z0-9]+", "-", (parts.path.rsplit("/", 1)[-1].rsplit(".", 1)[0] or article.title).lower())
    stem = stem.strip("-")[:80] or "article"
    folder = corpus_dir / "web" / host
    path = folder / f"{stem}.md"
    if path.exists():
        path = folder / f"{stem}-{hashlib.sha256(article.url.encode()).hexdigest()[:8]}.md"
    return path
