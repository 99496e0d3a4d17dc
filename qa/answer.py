"""Answers a question from retrieved passages: extractively (the default, no LLM) or with a chat model,
and in both cases attaches numbered citations and checks every answer sentence against the passages.
"""
from __future__ import annotations

import logging
import re
import time
from dataclasses import asdict, dataclass, field
from typing import Iterator, Sequence

import numpy as np

from qa.chunk import split_sentences, split_units
from qa.embed import Embedder
from qa.retrieve import Hit
from qa.store import bm25_terms

logger = logging.getLogger(__name__)

ABSTAIN_MESSAGE = "The indexed articles do not cover this question."
MAX_UNITS = 3
MAX_WORDS = 100
# A sentence is supported when some passage sentence is this similar to it (cosine) ...
SUPPORT_SIMILARITY = 0.72
# ... or when this share of its content words appear in one passage.
SUPPORT_OVERLAP = 0.7

# Words that say nothing about which passage answers: every article in the field uses them.
_GENERIC_TERMS = set(bm25_terms(
    "crypto cryptocurrency cryptocurrencies digital asset assets token tokens rule rules regulation regulations "
    "regulator regulators plan plans new say says said according report reported article articles also "
    "government market markets policy policies industry sector country city"
))

_WHEN = re.compile(r"\b(when|what (?:date|day|month|year|time)|which (?:date|day|month|year)|how long|until)\b", re.I)
_HOW_MANY = re.compile(r"\b(how (?:many|much|big|large)|what (?:share|percentage|percent|price|amount|number|size)"
                       r"|at what price|how large)\b", re.I)
_LIST = re.compile(r"\b(what are|which are|list|name the|stand for|stands for|pillars|four|five|three|components"
                   r"|elements|initiatives|include|includes|examples)\b", re.I)
_DATE_TEXT = re.compile(r"\b(19|20)\d\d\b|\b(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?\s*\d"
                        r"|\b(January|February|March|April|May|June|July|August|September|October|November|December)\b"
                        r"|\b(last|next|this) (week|month|year|Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)\b"
                        r"|\bquarter\b|\bsince\b")
_NUMBER_TEXT = re.compile(r"\d")

EXTRACTIVE_MODE = "extractive"


@dataclass
class Citation:
    """A numbered source: the passage an answer sentence was taken from or is supported by."""

    n: int
    chunk_id: str
    title: str
    source: str | None
    published: str | None
    url: str | None
    text: str
    jurisdictions: list[str] = field(default_factory=list)
    category: str | None = None
    highlights: list[tuple[int, int]] = field(default_factory=list)  # offsets in `text` of cited sentences


@dataclass
class AnswerSentence:
    text: str
    citations: list[int]
    supported: bool = True


@dataclass
class Answer:
    question: str
    answer: str
    abstained: bool
    mode: str
    citations: list[Citation]
    retrieved: list[dict]
    timings_ms: dict[str, float]
    sentences: list[AnswerSentence] = field(default_factory=list)
    evidence: float = 0.0
    standalone_question: str | None = None
    notice: str | None = None  # something the reader should know: LLM down, question shortened, ...

    def to_json(self) -> dict:
        """The `qa ask --json` object."""
        out = {
            "question": self.question,
            "answer": self.answer,
            "abstained": self.abstained,
            "mode": self.mode,
            "citations": [
                {k: v for k, v in asdict(c).items() if k in ("n", "title", "source", "published", "url", "chunk_id",
                                                               "text", "jurisdictions", "highlights")}
                for c in self.citations
            ],
            "retrieved": self.retrieved,
            "timings_ms": self.timings_ms,
            "sentences": [asdict(s) for s in self.sentences],
            "evidence": round(self.evidence, 4),
        }
        if self.standalone_question and self.standalone_question != self.question:
            out["standalone_question"] = self.standalone_question
        if self.notice:
            out["notice"] = self.notice
        return out


def retrieved_summary(hits: Sequence[Hit]) -> list[dict]:
    return [
        {"title": h.chunk.title, "chunk_id": h.chunk.chunk_id, "score": round(h.score, 6),
         "dense_score": None if h.dense_score is None else round(h.dense_score, 4),
         "bm25_score": None if h.bm25_score is None else round(h.bm25_score, 4)}
        for h in hits
    ]


@dataclass
class _Unit:
    hit_rank: int
    hit: Hit
    start: int  # offsets within the chunk's text
    end: int
    kind: str
    text: str
    score: float = 0.0
    similarity: float = 0.0
    coverage: float = 0.0
    terms: frozenset = frozenset()


def content_terms(text: str) -> set[str]:
    """Stemmed content words, without stop words and the field's generic vocabulary."""
    return set(bm25_terms(text)) - _GENERIC_TERMS


class ExtractiveAnswerer:
    """Composes the answer from the retrieved passages' own sentences, each with its `[n]` marker.

    Every sentence (a list with its lead-in counts as one) of the retrieved passages is scored by its
    similarity to the question, the share of the question's content words it contains, the rank of its
    passage, and whether it holds what the question asks for (a date, a number, a list). The best sentence
    opens the answer; up to two more follow when they score close to it and add question words the answer
    lacks. The answer abstains when the best evidence scores below `abstain_threshold`.
    """

    mode = EXTRACTIVE_MODE

    def __init__(self, embedder: Embedder, abstain_threshold: float):
        self.embedder = embedder
        self.abstain_threshold = abstain_threshold

    def answer(self, question: str, hits: Sequence[Hit], query_vector: np.ndarray | None = None) -> Answer:
        started = time.perf_counter()
        units = self._units(hits)
        if not units:
            return self._abstain(question, hits, 0.0, started)
        if query_vector is None:
            query_vector = self.embedder.encode([question], use_cache=False)[0]
        vectors = self.embedder.encode([u.text for u in units])
        similarities = vectors @ query_vector
        q_terms = content_terms(question)
        wants_date, wants_number, wants_list = bool(_WHEN.search(question)), bool(_HOW_MANY.search(question)), \
            bool(_LIST.search(question))
        for unit, similarity in zip(units, similarities):
            unit.similarity = float(similarity)
            unit.terms = frozenset(content_terms(unit.text))
            unit.coverage = len(q_terms & unit.terms) / len(q_terms) if q_terms else 0.0
            bonus = 0.0
            if wants_date and _DATE_TEXT.search(unit.text):
                bonus += 0.08
            if wants_number and _NUMBER_TEXT.search(unit.text):
                bonus += 0.06
            if wants_list and unit.kind == "list":
                bonus += 0.12
            unit.score = 0.55 * unit.similarity + 0.35 * unit.coverage + 0.04 / (1 + unit.hit_rank) + bonus
        ranked = sorted(units, key=lambda u: -u.score)
        best = ranked[0]
        # Evidence: how well the best sentence matches, and whether the passages mention what the question
        # is about at all (a question about Japan is not answered by a passage about Korea).
        passage_terms = set().union(*(u.terms for u in units))
        covered = len(q_terms & passage_terms) / len(q_terms) if q_terms else 0.0
        evidence = 0.5 * best.similarity + 0.25 * best.coverage + 0.25 * covered
        if evidence < self.abstain_threshold:
            return self._abstain(question, hits, evidence, started)
        chosen = self._select(ranked, q_terms)
        answer = self._compose(question, chosen, hits, evidence)
        answer.timings_ms["answer"] = round((time.perf_counter() - started) * 1000, 2)
        return answer

    def _units(self, hits: Sequence[Hit]) -> list[_Unit]:
        units: list[_Unit] = []
        seen: set[tuple[str, int]] = set()
        for rank, hit in enumerate(hits):
            chunk = hit.chunk
            for span in split_units(chunk.text):
                if span.kind == "heading":
                    continue
                key = (chunk.article_id, chunk.start + span.start)  # overlapping chunks repeat sentences
                if key in seen:
                    continue
                seen.add(key)
                units.append(_Unit(rank, hit, span.start, span.end, span.kind, chunk.text[span.start:span.end]))
        return units

    @staticmethod
    def _select(ranked: list[_Unit], q_terms: set[str]) -> list[_Unit]:
        best = ranked[0]
        chosen = [best]
        words = _word_count(best.text)
        covered = set(best.terms & q_terms)
        for unit in ranked[1:]:
            if len(chosen) == MAX_UNITS:
                break
            adds = (unit.terms & q_terms) - covered
            close = unit.score >= best.score - 0.06
            useful = close and (adds or unit.score >= best.score - 0.03)
            if not useful or words + _word_count(unit.text) > MAX_WORDS:
                continue
            chosen.append(unit)
            covered |= unit.terms & q_terms
            words += _word_count(unit.text)
        # Read in the order of the articles: by passage rank, then position in the passage.
        return sorted(chosen, key=lambda u: (u.hit_rank, u.start))

    def _compose(self, question: str, chosen: list[_Unit], hits: Sequence[Hit], evidence: float) -> Answer:
        citations: dict[str, Citation] = {}
        sentences: list[AnswerSentence] = []
        for unit in chosen:
            chunk = unit.hit.chunk
            citation = citations.get(chunk.chunk_id)
            if citation is None:
                citation = citation_for(unit.hit, len(citations) + 1)
                citations[chunk.chunk_id] = citation
            citation.highlights.append((unit.start, unit.end))
            text = _limit_words(unit.text, MAX_WORDS)
            sentences.append(AnswerSentence(text=text, citations=[citation.n], supported=True))
        return Answer(
            question=question,
            answer=render_answer(sentences),
            abstained=False,
            mode=self.mode,
            citations=list(citations.values()),
            retrieved=retrieved_summary(hits),
            timings_ms={},
            sentences=sentences,
            evidence=evidence,
        )

    def _abstain(self, question: str, hits: Sequence[Hit], evidence: float, started: float) -> Answer:
        return Answer(
            question=question,
            answer=ABSTAIN_MESSAGE,
            abstained=True,
            mode=self.mode,
            citations=[],
            retrieved=retrieved_summary(hits),
            timings_ms={"answer": round((time.perf_counter() - started) * 1000, 2)},
            evidence=evidence,
        )


def citation_for(hit: Hit, n: int) -> Citation:
    chunk = hit.chunk
    return Citation(
        n=n, chunk_id=chunk.chunk_id, title=chunk.title, source=chunk.source, published=chunk.published,
        url=chunk.url, text=chunk.text, jurisdictions=list(chunk.jurisdictions), category=chunk.category,
    )


def render_answer(sentences: Sequence[AnswerSentence]) -> str:
    """Sentences with their markers; a list keeps its lines, so it stands on lines of its own."""
    parts: list[str] = []
    for sentence in sentences:
        markers = "".join(f"[{n}]" for n in sentence.citations)
        text = sentence.text.strip()
        if "\n" in text:
            parts.append(f"\n{text}\n{markers}\n" if markers else f"\n{text}\n")
        else:
            parts.append(f"{text} {markers}".strip())
    return re.sub(r"\n{3,}", "\n\n", " ".join(parts)).strip().replace("\n ", "\n")


def _word_count(text: str) -> int:
    return len(re.findall(r"[\w’'$%.,-]+", text))


def _limit_words(text: str, limit: int) -> str:
    words = text.split(" ")
    if len(words) <= limit:
        return text
    return " ".join(words[:limit]).rstrip(",;:") + " …"


# --- checking generated sentences against the passages -------------------------------------------------------

@dataclass
class SupportCheck:
    """For each answer sentence: the passages (1-based) that support it; empty means unsupported."""

    supporting: list[list[int]]


def check_support(embedder: Embedder, sentences: Sequence[str], passages: Sequence[str]) -> SupportCheck:
    """Attributes each sentence to the passages that support it, by sentence similarity or word overlap."""
    if not sentences:
        return SupportCheck([])
    passage_units: list[tuple[int, str]] = []
    for i, passage in enumerate(passages, start=1):
        for a, b in split_sentences(passage):
            passage_units.append((i, passage[a:b]))
    if not passage_units:
        return SupportCheck([[] for _ in sentences])
    sentence_vectors = embedder.encode(list(sentences), use_cache=False)
    unit_vectors = embedder.encode([t for _, t in passage_units])
    similarity = sentence_vectors @ unit_vectors.T
    passage_terms = [content_terms(p) | set(bm25_terms(p)) for p in passages]
    supporting: list[list[int]] = []
    for row, sentence in zip(similarity, sentences):
        best: dict[int, float] = {}
        for (passage, _), score in zip(passage_units, row):
            best[passage] = max(best.get(passage, -1.0), float(score))
        terms = set(bm25_terms(sentence))
        found = []
        for passage, score in sorted(best.items(), key=lambda kv: -kv[1]):
            overlap = len(terms & passage_terms[passage - 1]) / len(terms) if terms else 0.0
            if score >= SUPPORT_SIMILARITY or (overlap >= SUPPORT_OVERLAP and len(terms) >= 3):
                found.append(passage)
        supporting.append(found[:2])
    return SupportCheck(supporting)
