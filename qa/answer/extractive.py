"""Answers a question from retrieved passages: extractively (the default, no LLM) or with a chat model,
and in both cases attaches numbered citations and checks every answer sentence against the passages.
"""
from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from qa.answer.reader import FACT_KINDS, KIND_NAMES, Reader, ReaderResult
from qa.index.embed import Embedder
from qa.ingest.chunk import split_sentences
from qa.search.retrieve import Hit
from qa.text import bm25_terms

logger = logging.getLogger(__name__)

ABSTAIN_MESSAGE = "The indexed articles do not cover this question."
MAX_UNITS = 3
MAX_WORDS = 100
# A sentence is supported when some passage sentence is this similar to it (cosine) ...
SUPPORT_SIMILARITY = 0.72
# ... or when this share of its content words appear in one passage.
SUPPORT_OVERLAP = 0.7
# A further sentence joins the answer when the reader finds it at least this likely, relative to the
# supporting sentence, to hold the answer: the reader is shown the runner-up rather than a guess between
# two close sentences.
COMPOSE_SHARE = 0.6

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
    answer_span: tuple[int, int] | None = None  # offsets in `text` of the short answer, when it is from here


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
    # The exact answer: {"text", "n" (citation number), "start", "end" (offsets in that citation's text)}.
    short_answer: dict | None = None
    confidence: float = 0.0  # the reader's probability that the answer is right (0-1)
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
            "short_answer": self.short_answer,
            "confidence": round(self.confidence, 4),
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


def content_terms(text: str) -> set[str]:
    """Stemmed words without stop words."""
    return set(bm25_terms(text))


class ExtractiveAnswerer:
    """Builds the answer from the `Reader`'s best span. Where one fact is asked (a date, a person, an amount,
    ...) the span comes first ("February 13, 2022."), then the sentence that supports it with its `[n]`
    marker, and a runner-up sentence when the reader finds it nearly as likely to hold the answer. Other
    questions (lists, definitions, how and why) get up to `MAX_UNITS` of the best sentences, in the order of
    the articles; `short_answer` still names the best span. When the reader abstains (its confidence is
    below the fitted threshold, or no candidate of the asked kind is near the question's terms), the answer
    says what was looked for.
    """

    mode = EXTRACTIVE_MODE

    def __init__(self, embedder: Embedder, abstain_threshold: float | None = None, reader: Reader | None = None):
        self.embedder = embedder
        self.reader = reader or Reader(embedder, threshold=abstain_threshold)

    def warm_up(self) -> None:
        """Load spaCy and the weights now, so that the first question is not the one that waits."""
        self.reader.warm_up()

    def answer(self, question: str, hits: Sequence[Hit], query_vector: np.ndarray | None = None) -> Answer:
        started = time.perf_counter()
        if not hits:
            return self._abstain(question, hits, None, started)
        result = self.reader.read(question, hits, query_vector=query_vector)
        if result.abstain:
            return self._abstain(question, hits, result, started)
        answer = self._compose(question, result, hits)
        answer.timings_ms["answer"] = round((time.perf_counter() - started) * 1000, 2)
        return answer

    def _compose(self, question: str, result: ReaderResult, hits: Sequence[Hit]) -> Answer:
        best = result.answers[0]
        support = next(s for s in result.sentences if s.hit is best.hit and s.start == best.sentence_start)
        fact = result.kind in FACT_KINDS
        # One fact: the span's sentence and at most one close runner-up; otherwise up to MAX_UNITS sentences.
        limit = 2 if fact else MAX_UNITS
        chosen = [support]
        words = _word_count(support.text)
        for sentence in result.sentences:
            if len(chosen) >= limit:
                break
            if sentence is support or sentence.score < COMPOSE_SHARE * support.score \
                    or words + _word_count(sentence.text) > MAX_WORDS:
                continue
            chosen.append(sentence)
            words += _word_count(sentence.text)
        # The supporting sentence first after a fact's span; otherwise in the order of the articles.
        ordered = [support] + sorted(chosen[1:], key=lambda s: (s.hit_rank, s.start)) if fact \
            else sorted(chosen, key=lambda s: (s.hit_rank, s.start))
        citations: dict[str, Citation] = {}
        sentences: list[AnswerSentence] = []
        for sentence in ordered:
            citation = cite(citations, sentence.hit)
            citation.highlights.append((sentence.start, sentence.end))
            sentences.append(AnswerSentence(text=_limit_words(sentence.text, MAX_WORDS), citations=[citation.n]))
        cited = citations[best.hit.chunk.chunk_id]
        short = {"text": best.text, "n": cited.n, "start": best.start, "end": best.end}
        cited.answer_span = (best.start, best.end)
        if fact:
            sentences.insert(0, AnswerSentence(text=lead_sentence(best.text), citations=[cited.n]))
        return Answer(
            question=question,
            answer=render_answer(sentences),
            abstained=False,
            mode=self.mode,
            citations=list(citations.values()),
            retrieved=retrieved_summary(hits),
            timings_ms={},
            sentences=sentences,
            evidence=result.confidence,
            short_answer=short,
            confidence=result.confidence,
        )

    def _abstain(self, question: str, hits: Sequence[Hit], result: ReaderResult | None, started: float) -> Answer:
        confidence = result.confidence if result else 0.0
        return Answer(
            question=question,
            answer=abstain_notice(question, result.kind if result else "other"),
            abstained=True,
            mode=self.mode,
            citations=[],
            retrieved=retrieved_summary(hits),
            timings_ms={"answer": round((time.perf_counter() - started) * 1000, 2)},
            evidence=confidence,
            confidence=confidence,
        )


def lead_sentence(span: str) -> str:
    """A fact's span as the answer's first sentence: "February 13, 2022." """
    lead = span.rstrip(" .,;:") + "."
    return lead[0].upper() + lead[1:] if lead[0].islower() else lead


def abstain_notice(question: str, kind: str) -> str:
    """What was looked for and not found: 'No date for "2022 Super Bowl held" was found in the indexed
    articles.' The closest articles are the answer's `retrieved` list, which `qa ask` and the UI show after it
    (kept out of this text, so that a title from an untrusted article never becomes part of an answer)."""
    words = re.findall(r"[\w’'$%.-]+", question)
    keep = [i for i, w in enumerate(words) if bm25_terms(w) and w.lower() not in _WH_WORDS]
    topic = " ".join(words[keep[0]:keep[-1] + 1]).strip(".?") if keep else ""
    looked = f'No {KIND_NAMES.get(kind, "answer")} for "{topic}"' if topic else "No answer"
    return f"{looked} was found in the indexed articles."


# Words that open a question but name nothing that was looked for.
_WH_WORDS = {"what", "which", "who", "whom", "whose", "when", "where", "why", "how", "do", "does", "did", "is", "are",
             "was", "were", "has", "have", "had", "will", "would", "can", "could", "should", "may", "might"}


def cite(citations: dict[str, Citation], hit: Hit) -> Citation:
    """The citation of `hit`'s passage in an answer being composed, numbered in order of first use."""
    citation = citations.get(hit.chunk.chunk_id)
    if citation is None:
        citation = citation_for(hit, len(citations) + 1)
        citations[hit.chunk.chunk_id] = citation
    return citation


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
    text = re.sub(r"[ \t]*\n[ \t]*", "\n", " ".join(parts))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


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
    passage_terms = [content_terms(p) for p in passages]
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
