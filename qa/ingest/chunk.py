"""Splits articles into overlapping chunks that fit the embedding model's window, on paragraph and
sentence boundaries, each keeping its article's metadata and its character offsets in the article.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from qa.ingest.load import Article

# Bumped whenever chunk boundaries change, so that `qa reindex` re-chunks every article.
CHUNKER_VERSION = 3
MODEL_MAX_TOKENS = 256

_ABBREVIATIONS = {
    "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "mr", "mrs", "ms",
    "dr", "prof", "st", "no", "nos", "co", "inc", "ltd", "corp", "vs", "etc", "e.g", "i.e", "u.s", "u.k", "a.m",
    "p.m", "approx", "est", "fig", "jr", "sr", "gov", "sen", "rep", "dept", "univ", "u.n", "e.u",
}
# A sentence ends at . ! ? (and any closing quotes or brackets) followed by space and a capital, a digit, a
# quote, or a camel-case brand name such as "stWEMIX" or "eToro".
_SENTENCE_END = re.compile(r"[.!?][\"'”’)\]]*(?=\s+(?:[\"'“‘(\[]?[A-Z0-9$€£¥]|[a-z]+[A-Z]))")
_LIST_ITEM = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+\S")
_HEADING = re.compile(r"^\s*#{1,6}\s+\S")


@dataclass(frozen=True)
class Span:
    """A piece of text that is never split: a sentence, a heading, or a list with its lead-in sentence."""

    start: int
    end: int
    kind: str  # "sentence" | "heading" | "list"
    paragraph: int


@dataclass(frozen=True)
class Chunk:
    """A contiguous slice `text == article.text[start:end]` of one article, with the article's metadata."""

    chunk_id: str
    article_id: str
    index: int
    text: str
    start: int
    end: int
    title: str
    path: str
    published: str | None
    published_date: int | None  # YYYYMMDD, for date-range filters; None when the article gives no date
    source: str | None
    url: str | None
    category: str | None
    jurisdictions: tuple[str, ...]

    @property
    def embedding_text(self) -> str:
        """What is embedded and BM25-indexed: the title gives a passage the context its text may lack."""
        return f"{self.title}\n{self.text}"

    def to_record(self) -> dict:
        return {
            "chunk_id": self.chunk_id, "article_id": self.article_id, "index": self.index, "text": self.text,
            "start": self.start, "end": self.end, "title": self.title, "path": self.path,
            "published": self.published, "published_date": self.published_date, "source": self.source,
            "url": self.url, "category": self.category, "jurisdictions": list(self.jurisdictions),
        }

    @classmethod
    def from_record(cls, record: dict) -> Chunk:
        return cls(**{**record, "jurisdictions": tuple(record.get("jurisdictions") or ())})

    def chroma_metadata(self) -> dict:
        """Chroma accepts no None values and no empty lists, so absent fields are left out."""
        meta = {k: v for k, v in self.to_record().items() if k not in ("text", "chunk_id") and v not in (None, [], "")}
        return meta


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """(start, end) offsets of the sentences of text[start:end], whitespace trimmed."""
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    cursor = start
    for match in _SENTENCE_END.finditer(text, start, end):
        stop = match.end()
        word = re.search(r"([\w.]+)[.!?][\"'”’)\]]*$", text[cursor:stop])
        if word and text[stop - 1] == "." and (
            word.group(1).lower() in _ABBREVIATIONS or re.fullmatch(r"[A-Z]", word.group(1))
        ):
            continue
        spans.append((cursor, stop))
        cursor = stop
    spans.append((cursor, end))
    return [_trim(text, a, b) for a, b in spans if text[a:b].strip()]


def _trim(text: str, a: int, b: int) -> tuple[int, int]:
    while a < b and text[a].isspace():
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    return a, b


def split_units(text: str) -> list[Span]:
    """Sentences, headings and lists of a text, in order; a list absorbs the sentence that leads into it."""
    units: list[Span] = []
    for paragraph, (p_start, p_end) in enumerate(_paragraphs(text)):
        lines = _lines(text, p_start, p_end)
        i = 0
        while i < len(lines):
            a, b = lines[i]
            line = text[a:b]
            if _HEADING.match(line):
                units.append(Span(a, b, "heading", paragraph))
                i += 1
            elif _LIST_ITEM.match(line):
                j = i
                while j + 1 < len(lines) and _LIST_ITEM.match(text[lines[j + 1][0]:lines[j + 1][1]]):
                    j += 1
                list_start, list_end = a, lines[j][1]
                last = units[-1] if units else None
                if last is not None and last.kind == "sentence" and text[last.start:last.end].rstrip().endswith(":"):
                    list_start = units.pop().start
                units.append(Span(list_start, list_end, "list", paragraph))
                i = j + 1
            else:
                j = i
                while j + 1 < len(lines) and not _HEADING.match(text[lines[j + 1][0]:lines[j + 1][1]]) \
                        and not _LIST_ITEM.match(text[lines[j + 1][0]:lines[j + 1][1]]):
                    j += 1
                units.extend(Span(s, e, "sentence", paragraph) for s, e in split_sentences(text, a, lines[j][1]))
                i = j + 1
    return units


def _paragraphs(text: str) -> list[tuple[int, int]]:
    spans, cursor = [], 0
    for match in re.finditer(r"\n[ \t]*\n", text):
        spans.append((cursor, match.start()))
        cursor = match.end()
    spans.append((cursor, len(text)))
    return [_trim(text, a, b) for a, b in spans if text[a:b].strip()]


def _lines(text: str, start: int, end: int) -> list[tuple[int, int]]:
    out, cursor = [], start
    for match in re.finditer(r"\n", text[start:end]):
        out.append((cursor, start + match.start()))
        cursor = start + match.end()
    out.append((cursor, end))
    return [_trim(text, a, b) for a, b in out if text[a:b].strip()]


TokenCounter = Callable[[Sequence[str]], list[int]]


class Chunker:
    """Packs whole sentences (and whole lists) into chunks of at most `max_tokens` word pieces.

    The title is embedded with every chunk, so it counts against the budget. A neighbouring chunk repeats the
    last `overlap` sentences of the previous one. A heading starts a new chunk once the current one is half full,
    and a single sentence longer than the window is cut at word boundaries into pieces that fit: the encoder
    never truncates anything silently.
    """

    def __init__(self, count_tokens: TokenCounter, max_tokens: int = 200, overlap: int = 1):
        if not 16 <= max_tokens <= MODEL_MAX_TOKENS:
            raise ValueError(f"max_tokens must be between 16 and {MODEL_MAX_TOKENS}, got {max_tokens}")
        self.count_tokens = count_tokens
        self.max_tokens = max_tokens
        self.overlap = overlap

    def chunk(self, article: Article) -> list[Chunk]:
        return self.chunk_many([article])[0]

    def chunk_many(self, articles: Sequence[Article]) -> list[list[Chunk]]:
        """Chunks of each article; token counts are computed in one batch for speed."""
        units_per_article = [split_units(a.text) for a in articles]
        flat = [a.text[u.start:u.end] for a, units in zip(articles, units_per_article) for u in units]
        titles = self.count_tokens([a.title for a in articles])
        counts = iter(self.count_tokens(flat) if flat else [])
        result = []
        for article, units, title_tokens in zip(articles, units_per_article, titles):
            # +3: [CLS], [SEP], and the newline between title and text; subtract tokenizer specials once.
            budget = max(self.max_tokens - title_tokens, 16)
            sized = [(u, next(counts) - 2) for u in units]  # counts include [CLS] and [SEP]
            sized = self._split_oversized(article.text, sized, budget)
            result.append(self._pack(article, sized, budget))
        return result

    def _split_oversized(self, text: str, sized: list[tuple[Span, int]], budget: int) -> list[tuple[Span, int]]:
        out: list[tuple[Span, int]] = []
        for unit, tokens in sized:
            if tokens <= budget:
                out.append((unit, tokens))
                continue
            # Cut at word boundaries into pieces of about `budget` tokens, checking each piece's real count.
            words = [(m.start(), m.end()) for m in re.finditer(r"\S+", text[unit.start:unit.end])]
            pieces_needed = -(-tokens // budget) + 1
            per_piece = max(1, len(words) // pieces_needed)
            i = 0
            while i < len(words):
                j = min(len(words), i + per_piece)
                while True:
                    a, b = unit.start + words[i][0], unit.start + words[j - 1][1]
                    n = self.count_tokens([text[a:b]])[0] - 2
                    if n <= budget or j - i == 1:
                        break
                    j = i + max(1, (j - i) * 3 // 4)
                if n <= budget:
                    out.append((Span(a, b, "sentence", unit.paragraph), n))
                else:  # one "word" longer than the window (a long URL, a table row without spaces)
                    out.extend(self._split_word(text, a, b, budget, unit.paragraph))
                i = j
        return out

    def _split_word(self, text: str, start: int, end: int, budget: int, paragraph: int) -> list[tuple[Span, int]]:
        """Cuts text[start:end] by characters into the longest pieces that fit `budget` (binary search)."""
        pieces: list[tuple[Span, int]] = []
        while start < end:
            low, high = start + 1, end
            while low < high:
                middle = (low + high + 1) // 2
                if self.count_tokens([text[start:middle]])[0] - 2 <= budget:
                    low = middle
                else:
                    high = middle - 1
            pieces.append((Span(start, low, "sentence", paragraph), self.count_tokens([text[start:low]])[0] - 2))
            start = low
        return pieces

    def _pack(self, article: Article, sized: list[tuple[Span, int]], budget: int) -> list[Chunk]:
        groups: list[list[tuple[Span, int]]] = []
        current: list[tuple[Span, int]] = []
        used = 0
        carried = 0  # units at the head of `current` that repeat the end of the previous chunk
        for unit, tokens in sized:
            heading_break = unit.kind == "heading" and used >= budget // 2
            if current and (used + tokens > budget or heading_break):
                # A heading belongs with the text under it, so trailing headings move to the next chunk, when
                # they fit there; a heading is never dropped.
                headings: list[tuple[Span, int]] = []
                while current[-1][0].kind == "heading" and len(current) > 1:
                    headings.insert(0, current.pop())
                if sum(t for _, t in headings) + tokens > budget:
                    current, headings = current + headings, []
                overlap: list[tuple[Span, int]] = []
                if len(current) > carried:  # else it holds only the previous chunk's overlap: nothing new
                    groups.append(current)
                    # The overlap repeats the last sentences of a chunk (never all of it), up to its last heading:
                    # a chunk is one slice of the article, so a heading inside it would count without being counted.
                    for item in reversed(current[len(current) - min(self.overlap, len(current) - 1):]):
                        if item[0].kind == "heading":
                            break
                        overlap.insert(0, item)
                # Overlap only when it leaves room.
                while overlap and sum(t for _, t in overlap + headings) + tokens > budget:
                    overlap = overlap[1:]
                current, carried = overlap + headings, len(overlap)
                used = sum(t for _, t in current)
            current.append((unit, tokens))
            used += tokens
        if len(current) > carried:  # a final chunk of nothing but overlap would repeat the previous one
            groups.append(current)
        date = article.published_date
        chunks = []
        for index, group in enumerate(groups):
            start, end = group[0][0].start, group[-1][0].end
            chunks.append(Chunk(
                chunk_id=f"{article.article_id}::{index}",
                article_id=article.article_id,
                index=index,
                text=article.text[start:end],
                start=start,
                end=end,
                title=article.title,
                path=article.path,
                published=article.published,
                published_date=int(date.strftime("%Y%m%d")) if date else None,
                source=article.source,
                url=article.url,
                category=article.category,
                jurisdictions=article.jurisdictions,
            ))
        return chunks
