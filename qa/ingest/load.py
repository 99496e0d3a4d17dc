"""Reads article files of every supported format into `Article` records, reporting what it cannot read.

Formats: Markdown (with or without YAML front matter), plain text, saved HTML pages, PDF, and JSONL bulk files.
"""
from __future__ import annotations

import codecs
import datetime as dt
import errno
import hashlib
import json
import logging
import os
import re
import stat
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from qa.errors import ConfigError
from qa.ingest.jurisdictions import detect_jurisdictions

logger = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = (".md", ".markdown", ".txt", ".text", ".html", ".htm", ".pdf", ".jsonl")
RELATIVE_DATE = re.compile(
    r"^\s*(?:(?:\d+|an?|one)\s+(?:second|minute|hour|day|week|month|year)s?\s+ago|yesterday|today)\s*$", re.I)
FEEDS_FILE = "feeds.toml"  # `qa sync`'s list of feeds, kept beside the articles it brings; not an article
MAX_FILE_MB = 20  # for one article; a bigger file is a dump: split it, or make it JSONL (read line by line, no limit)
MIN_FALLBACK_HTML_WORDS = 20


@dataclass(frozen=True)
class Article:
    """One article: its text and the metadata every chunk of it inherits."""

    article_id: str  # relative path of its file, plus `#<id>` for an article of a JSONL file
    title: str
    text: str
    path: str
    published: str | None = None  # as the article gives it: ISO date, or e.g. "6 days ago"
    source: str | None = None
    url: str | None = None
    category: str | None = None
    jurisdictions: tuple[str, ...] = ()

    @property
    def published_date(self) -> dt.date | None:
        """The publication date when `published` is an ISO date; None for "6 days ago" and the like."""
        return parse_iso_date(self.published)

    @property
    def content_hash(self) -> str:
        """Changes whenever anything that ends up in the index changes."""
        payload = json.dumps(
            [self.title, self.text, self.published, self.source, self.url, self.category, self.jurisdictions],
            ensure_ascii=False,
        )
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class LoadProblem:
    """A file (or one line of a JSONL file) that was skipped or read with a caveat, and why."""

    path: str
    reason: str
    skipped: bool = True  # False: the article was indexed, with the caveat in `reason`

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass
class LoadResult:
    articles: list[Article] = field(default_factory=list)
    problems: list[LoadProblem] = field(default_factory=list)

    @property
    def failed(self) -> list[LoadProblem]:
        return [p for p in self.problems if p.skipped]


class UnreadableFile(Exception):
    """Raised by a loader; its message is the reason shown next to the file's path."""


def parse_iso_date(value: object) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip()[:10])
        except ValueError:
            return None
    return None


def resolve_published(published: str, retrieved: dt.datetime | None) -> str | None:
    """The ISO date of a relative date ("6 days ago", "yesterday") read at `retrieved`; None without a base."""
    if not RELATIVE_DATE.match(published) or retrieved is None:
        return None
    import dateparser

    base = retrieved.astimezone(dt.UTC).replace(tzinfo=None) if retrieved.tzinfo else retrieved
    when = dateparser.parse(published, languages=["en"], settings={"RELATIVE_BASE": base})
    return when.date().isoformat() if when else None


def _parse_retrieved(value: object) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    return None


def load_corpus(corpus_dir: Path) -> LoadResult:
    """Every article under `corpus_dir`; unreadable files are reported in `problems`, never raised.

    A missing corpus folder raises `ConfigError`: indexing it as empty would delete the whole index.
    """
    result = LoadResult()
    if not corpus_dir.is_dir():
        what = "is not a folder" if corpus_dir.exists() else "does not exist"
        raise ConfigError(f"the corpus folder {corpus_dir} {what}; create it or set QA_CORPUS_DIR")
    seen_hashes: dict[str, str] = {}
    seen_ids: set[str] = set()
    for path in _corpus_files(corpus_dir, result):
        rel = path.relative_to(corpus_dir).as_posix()
        try:
            loaded = list(load_file(path, rel))
        except UnreadableFile as exc:
            result.problems.append(LoadProblem(rel, str(exc)))
            logger.warning("skipped %s: %s", rel, exc)
            continue
        except OSError as exc:
            result.problems.append(LoadProblem(rel, f"cannot be read: {exc.strerror or exc}"))
            continue
        except Exception as exc:  # a loader bug or a parser's surprise must cost one file, not the reindex
            logger.exception("unexpected error reading %s", rel)
            result.problems.append(LoadProblem(rel, f"could not be read ({type(exc).__name__}: {exc})"))
            continue
        for item in loaded:
            if isinstance(item, LoadProblem):
                result.problems.append(item)
                continue
            if item.article_id in seen_ids:
                # Two JSONL lines with one id would give two articles the same chunk ids.
                result.problems.append(LoadProblem(
                    item.article_id, "an earlier line of the file has the same id; only that one is indexed; "
                                     "give every line its own 'id'",
                ))
                continue
            seen_ids.add(item.article_id)
            digest = hashlib.sha256(f"{item.title}\n{item.text}".encode()).hexdigest()
            if digest in seen_hashes:
                # Nothing is lost, so this is a caveat, not a failure.
                result.problems.append(LoadProblem(
                    item.article_id, f"same article as {seen_hashes[digest]}; indexed once, under that name",
                    skipped=False,
                ))
                continue
            seen_hashes[digest] = item.article_id
            result.articles.append(item)
    return result


def _corpus_files(corpus_dir: Path, result: LoadResult) -> Iterator[Path]:
    def unreadable_folder(exc: OSError) -> None:
        folder = Path(exc.filename or corpus_dir)
        if folder == corpus_dir:  # indexing it as empty would delete the whole index
            raise ConfigError(
                f"cannot read the corpus folder {corpus_dir} ({exc.strerror or exc}); fix its permissions") from exc
        result.problems.append(LoadProblem(f"{folder.relative_to(corpus_dir).as_posix()}/",
                                           f"folder cannot be read ({exc.strerror or exc}); its files are not indexed"))

    # os.walk without following directory links cannot loop; file links are followed when they resolve.
    for root, dirs, files in os.walk(corpus_dir, onerror=unreadable_folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith(".") or (root == str(corpus_dir) and name == FEEDS_FILE):
                continue
            path = Path(root) / name
            rel = path.relative_to(corpus_dir).as_posix()
            if path.suffix.lower() not in SUPPORTED_SUFFIXES:
                result.problems.append(
                    LoadProblem(rel, f"unsupported file type '{path.suffix}'; "
                                     f"supported: {', '.join(SUPPORTED_SUFFIXES)}")
                )
                continue
            try:
                mode = path.stat().st_mode
            except OSError as exc:
                reason = "symbolic link loop" if exc.errno == errno.ELOOP else f"cannot be read: {exc.strerror or exc}"
                result.problems.append(LoadProblem(rel, reason))
                continue
            if not stat.S_ISREG(mode):
                # Reading a named pipe blocks until something writes to it: the reindex would hang.
                result.problems.append(LoadProblem(rel, "not a regular file (a named pipe, socket or device); "
                                                        "replace it with the article file"))
                continue
            yield path


def load_file(path: Path, rel: str) -> Iterator[Article | LoadProblem]:
    """Articles of one file (a JSONL file may also yield problems for its bad lines)."""
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        yield from _load_jsonl(path, rel)
        return
    size_mb = path.stat().st_size / 1e6
    if size_mb > MAX_FILE_MB:
        raise UnreadableFile(
            f"file is {size_mb:.0f} MB, over the {MAX_FILE_MB} MB limit for one article; split it or use JSONL"
        )
    data = path.read_bytes()
    if not data.strip():
        raise UnreadableFile("file is empty")
    if suffix == ".pdf":
        article = load_pdf(data, rel)
    elif suffix in (".html", ".htm"):
        article = _load_html(decode_text(data), rel)
    elif suffix in (".md", ".markdown"):
        article, caveats = _load_markdown(decode_text(data), rel)
        yield from caveats
    else:
        article = _load_plain(decode_text(data), rel)
    yield article


def decode_text(data: bytes) -> str:
    """Text of a file in UTF-8, UTF-16 (with BOM) or a legacy single-byte encoding; rejects binary data."""
    boms = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
    for bom, encoding in boms:
        if data.startswith(bom):
            return _clean(data.decode(encoding, errors="replace").lstrip("\ufeff"))
    if b"\x00" in data[:8192]:
        raise UnreadableFile("binary file, not text; convert it to .txt, .md, .html or .pdf")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        # Windows-1252 is what "Latin-1" files from browsers and editors usually are; it is a superset of
        # Latin-1's printable characters.
        text = data.decode("cp1252", errors="replace")
    control = sum(1 for ch in text[:8192] if unicodedata.category(ch) == "Cc" and ch not in "\n\r\t\f")
    if control > 0.05 * min(len(text), 8192):
        raise UnreadableFile("binary file, not text; convert it to .txt, .md, .html or .pdf")
    return _clean(text)


def _clean(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\xa0", " ")
    return "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch) != "Cc")


def _article(rel: str, title: str, text: str, article_id: str | None = None, **meta: object) -> Article:
    text = text.strip()
    title = " ".join(str(title).split()) or Path(rel).stem.replace("-", " ").replace("_", " ")
    clean = {k: (str(v).strip() or None if v is not None else None) for k, v in meta.items()}
    return Article(
        article_id=article_id or rel,
        title=title,
        text=text,
        path=rel,
        jurisdictions=tuple(detect_jurisdictions(text, title)),
        **clean,
    )


def _load_markdown(raw: str, rel: str) -> tuple[Article, list[LoadProblem]]:
    import frontmatter
    import yaml

    caveats: list[LoadProblem] = []
    try:
        post = frontmatter.loads(raw)
        meta, body = dict(post.metadata), post.content
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at front-matter line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UnreadableFile(f"malformed front matter{where} ({problem}); fix the YAML between the '---' lines") \
            from exc
    except (ValueError, TypeError) as exc:  # a date like 2025-13-45, a key that is not text
        raise UnreadableFile(f"malformed front matter ({exc}); fix the YAML between the '---' lines") from exc
    title = meta.get("title")
    if title is not None and not isinstance(title, (str, int, float)):
        caveats.append(LoadProblem(rel, f"front matter field 'title' must be text, got {type(title).__name__}; "
                                        "the first heading or file name is used instead", skipped=False))
        title = None
    if title is None:
        heading = re.match(r"\s*#\s+(.+)\n", body)
        if heading:
            title, body = heading.group(1), body[heading.end():]
    published = meta.get("published", meta.get("date"))
    if isinstance(published, (dt.date, dt.datetime)):
        published = published.isoformat()
    elif published is not None and (not isinstance(published, str)
                                    or not (parse_iso_date(published) or RELATIVE_DATE.match(published))):
        caveats.append(LoadProblem(rel, f"front matter field 'published' is {published!r}, not a date like "
                                        "2025-06-27 or '6 days ago'; the article is indexed without a date",
                                   skipped=False))
        published = None
    retrieved = _parse_retrieved(meta.get("retrieved"))
    if meta.get("retrieved") is not None and retrieved is None:
        caveats.append(LoadProblem(rel, f"front matter field 'retrieved' is {meta.get('retrieved')!r}, not a time like "
                                        "2025-12-10T08:00:00Z; a relative 'published' stays unresolved", skipped=False))
    if isinstance(published, str) and RELATIVE_DATE.match(published) and retrieved is not None:
        # "6 days ago" means six days before the page was read, not before today.
        published = resolve_published(published, retrieved) or published
    fields = {}
    for key in ("source", "url", "category"):
        value = meta.get(key)
        if value is not None and not isinstance(value, (str, int, float)):
            caveats.append(LoadProblem(rel, f"front matter field '{key}' must be text, got {type(value).__name__}; "
                                            "it is ignored", skipped=False))
            value = None
        fields[key] = value
    if not body.strip():
        raise UnreadableFile("no article text after the front matter")
    return _article(rel, title or "", body, published=published, **fields), caveats


def _load_plain(text: str, rel: str) -> Article:
    lines = text.strip().split("\n", 1)
    first = lines[0].strip()
    # A short first line that does not end a sentence is a headline.
    if len(lines) == 2 and len(first) <= 150 and not first.endswith((".", "!", "?", ":")):
        return _article(rel, first, lines[1])
    return _article(rel, "", text)


def _load_html(html: str, rel: str) -> Article:
    import trafilatura

    options = {"with_metadata": True, "include_comments": False, "favor_precision": True}
    doc = trafilatura.bare_extraction(html, fast=True, **options)
    text = getattr(doc, "text", None) if doc is not None else None
    if not text or not text.strip():
        # trafilatura's fallback extractors also return the text of navigation-only pages ("Home News"), so
        # what only they find must be long enough to be an article.
        doc = trafilatura.bare_extraction(html, **options)
        text = getattr(doc, "text", None) if doc is not None else None
        if text and len(text.split()) < MIN_FALLBACK_HTML_WORDS:
            text = None
    if not text or not text.strip():
        raise UnreadableFile("no main text found in the HTML page; save the article page itself, not an index page")
    return _article(
        rel,
        getattr(doc, "title", None) or "",
        text,
        published=getattr(doc, "date", None),
        source=getattr(doc, "sitename", None),
        url=getattr(doc, "url", None),
        category=(getattr(doc, "categories", None) or [None])[0],
    )


def load_pdf(data: bytes, rel: str) -> Article:
    import io

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise UnreadableFile("encrypted PDF; save a copy without the password")
        pages = [page.extract_text() or "" for page in reader.pages]
        info = reader.metadata or {}
    except UnreadableFile:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UnreadableFile(f"corrupt PDF ({exc}); re-export or re-download it") from exc
    except Exception as exc:  # pypdf raises assorted errors on damaged files; all mean the same to the user
        if "decrypt" in str(exc).lower() or "crypt" in type(exc).__name__.lower():
            raise UnreadableFile("encrypted PDF; save a copy without the password") from exc
        raise UnreadableFile(f"corrupt PDF ({type(exc).__name__}: {exc}); re-export or re-download it") from exc
    text = "\n\n".join(p.strip() for p in pages if p.strip())
    if not text:
        raise UnreadableFile("PDF has no extractable text (scanned images?); run OCR first")
    title = str(info.get("/Title") or "").strip()
    if not title:
        first = text.split("\n", 1)[0].strip()
        title = first if len(first) <= 150 else ""
    return _article(rel, title, text)


def _load_jsonl(path: Path, rel: str) -> Iterator[Article | LoadProblem]:
    with path.open("rb") as fh:
        for line_no, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            where = f"{rel}:{line_no}"
            try:
                row = json.loads(raw.decode("utf-8"))
                if not isinstance(row, dict):
                    raise ValueError("not a JSON object")
            except (ValueError, UnicodeDecodeError, RecursionError) as exc:
                yield LoadProblem(where, f"not a JSON object ({exc}); fix or remove the line")
                continue
            text = row.get("text")
            if not isinstance(text, str) or not text.strip():
                yield LoadProblem(where, "field 'text' is missing or empty; each line needs a 'text' string")
                continue
            meta = row.get("metadata") if isinstance(row.get("metadata"), dict) else {}
            key = row.get("_id", row.get("id", line_no))
            title = row.get("title")
            published = row.get("published", meta.get("published", meta.get("date")))
            yield _article(
                rel,
                title if isinstance(title, str) and title.strip() else str(key),
                text,
                article_id=f"{rel}#{key}",
                published=published,
                source=row.get("source", meta.get("source")),
                url=row.get("url", meta.get("url")),
                category=row.get("category", meta.get("category")),
            )
